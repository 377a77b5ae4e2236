"""`weightgate attest-eval`: an eval report becomes DSSE-signed in-toto test-result statements that verify with
the public key and read back to the same results; input that cannot be signed honestly is refused (exit 2)."""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from weightgate.cli import main
from weightgate.exitcodes import EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.governance.eval_results import TEST_RESULT_PREDICATE_TYPE, results_from_test_result

DIGEST = "sha256:" + "ab" * 32
METRICS = {"exact_match": 0.81, "refusal_rate": 0.02}


@pytest.fixture
def keys(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "eval.pem", tmp_path / "eval.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, SSlibKey.from_crypto(key.public_key())


def _results(tmp_path, document, name="results.json"):
    path = tmp_path / name
    path.write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
    return path


def _attest(tmp_path, private, results, *extra):
    out = tmp_path / "evals.intoto.jsonl"
    code = main(["attest-eval", str(results), "--digest", DIGEST, "--key", str(private), "-o", str(out), *extra])
    return code, out


def _verified(line, key):
    envelope = Envelope.from_dict(json.loads(line))
    envelope.verify([key], 1)  # raises unless the signature verifies with the public key
    return json.loads(envelope.payload)


def test_signed_results_verify_and_read_back(tmp_path, keys):
    private, public = keys
    results = _results(tmp_path, {"artifact_digest": DIGEST, "suite": "support-qa-v2", "metrics": METRICS,
                                  "passed": True})
    code, out = _attest(tmp_path, private, results, "--artifact", "tiny-chat-support")
    assert code == EXIT_PASS
    (line,) = out.read_text().splitlines()
    statement = _verified(line, public)
    assert statement["subject"] == [{"name": "tiny-chat-support", "digest": {"sha256": "ab" * 32}}]
    assert statement["predicateType"] == TEST_RESULT_PREDICATE_TYPE
    predicate = statement["predicate"]
    assert predicate["result"] == "PASSED" and predicate["passedTests"] == ["support-qa-v2"]
    assert predicate["configuration"] == [
        {"name": "results.json", "digest": {"sha256": hashlib.sha256(results.read_bytes()).hexdigest()}}]
    result = results_from_test_result(statement)
    assert (result.suite, dict(result.metrics), result.passed, result.failed) == (
        "support-qa-v2", METRICS, True, False)
    # The statement and its predicate are what the in-toto reference types accept (extension field aside).
    json_format.ParseDict(statement, statement_pb2.Statement())
    json_format.ParseDict({k: v for k, v in predicate.items() if k != "weightgate"}, test_result_pb2.TestResult())


def test_a_signature_from_another_key_does_not_verify(tmp_path, keys):
    private, _ = keys
    code, out = _attest(tmp_path, private, _results(tmp_path, {"artifact_digest": DIGEST, "suite": "qa",
                                                               "metrics": METRICS, "passed": True}))
    assert code == EXIT_PASS
    other = SSlibKey.from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(VerificationError):
        _verified(out.read_text(), other)


def test_several_suites_one_line_each_or_one_chosen(tmp_path, keys):
    private, public = keys
    results = _results(tmp_path, {"artifact_digest": DIGEST, "results": [
        {"suite": "qa", "metrics": METRICS, "passed": True},
        {"suite": "safety", "metrics": {"toxicity": 0.2}, "passed": False}]})
    code, out = _attest(tmp_path, private, results)
    assert code == EXIT_PASS
    statements = [_verified(line, public) for line in out.read_text().splitlines()]
    assert [(s["predicate"]["result"], s["predicate"]["failedTests"]) for s in statements] == [
        ("PASSED", []), ("FAILED", ["safety"])]
    assert [s["subject"][0]["name"] for s in statements] == ["artifact", "artifact"]
    assert results_from_test_result(statements[1]).failed
    code, out = _attest(tmp_path, private, results, "--suite", "safety")
    assert code == EXIT_PASS
    (line,) = out.read_text().splitlines()
    assert results_from_test_result(_verified(line, public)).suite == "safety"


@pytest.mark.parametrize(("document", "digest", "message"), [
    (b"{not json", DIGEST, "not a readable eval report"),
    (b'{"artifact_digest": "%s", "suite": "qa", "passed": false, "passed": true}' % DIGEST.encode(), DIGEST,
     "appears twice"),
    ({"artifact_digest": "sha256:" + "cd" * 32, "suite": "qa", "passed": True}, DIGEST, "not " + DIGEST),
    ({"suite": "qa", "passed": True}, DIGEST, "evaluated no digest"),
    ({"artifact_digest": DIGEST, "suite": "qa", "metrics": {"em": float("nan")}, "passed": True}, DIGEST,
     "NaN is not a JSON number"),  # the strict reader refuses it (issue 19)
    ({"artifact_digest": DIGEST, "suite": "qa", "metrics": METRICS}, DIGEST, "says neither passed nor failed"),
    ({"artifact_digest": DIGEST}, DIGEST, "reports no suite results"),
    ({"artifact_digest": DIGEST, "suite": "qa", "passed": True}, "ab" * 32, "is not an artifact digest"),
    ({"artifact_digest": DIGEST, "suite": "qa", "passed": True}, "sha256:" + "AB" * 32, "is not an artifact"),
    ({"artifact_digest": DIGEST, "suite": "qa", "passed": True}, "sha512:" + "ab" * 64, "is not an artifact"),
])
def test_input_that_cannot_be_signed_is_refused(tmp_path, keys, capsys, document, digest, message):
    private, _ = keys
    out = tmp_path / "evals.intoto.jsonl"
    code = main(["attest-eval", str(_results(tmp_path, document)), "--digest", digest, "--key", str(private),
                 "-o", str(out)])
    assert code == EXIT_INPUT_ERROR
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_suite_the_results_do_not_report_is_refused(tmp_path, keys, capsys):
    private, _ = keys
    results = _results(tmp_path, {"artifact_digest": DIGEST, "suite": "qa", "metrics": METRICS, "passed": True})
    code, out = _attest(tmp_path, private, results, "--suite", "safety")
    assert code == EXIT_INPUT_ERROR and "no result for suite 'safety'" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_key_is_refused(tmp_path, capsys):
    key = tmp_path / "not-a-key.pem"
    key.write_text("not a key")
    results = _results(tmp_path, {"artifact_digest": DIGEST, "suite": "qa", "metrics": METRICS, "passed": True})
    code, out = _attest(tmp_path, key, results)
    assert code == EXIT_INPUT_ERROR and "cannot be used" in capsys.readouterr().err
    assert not out.exists()


def test_payload_is_the_statement_in_base64(tmp_path, keys):
    private, _ = keys
    results = _results(tmp_path, {"artifact_digest": DIGEST, "suite": "qa", "metrics": METRICS, "passed": True})
    _, out = _attest(tmp_path, private, results)
    envelope = json.loads(out.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"]))["_type"] == "https://in-toto.io/Statement/v1"
