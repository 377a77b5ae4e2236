"""The Kyverno admission example (deploy/kyverno/weightgate-model-decision.yaml): it validates against Kyverno's own
ClusterPolicy schema (the models generated from Kyverno's CRDs, PyPI `cloudcoil-models-kyverno`, in the test
extra), and every field its conditions read exists, with the value they expect, in the predicate a real `check
--attest` writes."""

from __future__ import annotations

import base64
import json
import re

import pytest
import yaml

from conftest import REPO_ROOT, safetensors_bytes
from evidence.signing import write_key
from integration.conftest import IN_CI
from weightgate.cli import main

POLICY = REPO_ROOT / "deploy" / "kyverno" / "weightgate-model-decision.yaml"


def _conditions() -> list[dict]:
    (rule,) = yaml.safe_load(POLICY.read_text())["spec"]["rules"]
    (verify,) = rule["verifyImages"]
    (attestation,) = verify["attestations"]
    assert attestation["type"] == "https://slsa.dev/verification_summary/v1"
    return attestation["conditions"][0]["all"]


@pytest.mark.integration
def test_the_policy_matches_kyvernos_clusterpolicy_schema():
    try:
        from cloudcoil.models.kyverno import v1 as models
    except ImportError:
        message = "cloudcoil-models-kyverno is not installed (it comes from the test extra)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    document = yaml.safe_load(POLICY.read_text())
    policy = models.ClusterPolicy.model_validate(document)
    # The models ignore unknown fields: a misspelled one would vanish from the round trip.
    assert policy.model_dump(by_alias=True, exclude_unset=True, mode="json") == document


def test_every_condition_reads_a_field_of_a_real_decision_record(ws):
    art = ws.artifact("fraud", files={"model.safetensors": safetensors_bytes(4)})
    private, _ = write_key(ws.root / "keys", "gate")
    out = ws.root / "d.jsonl"
    assert main(["check", str(ws.write_manifest([art])), "--attest", str(out), "--attest-key", str(private),
                 "-q"]) == 0
    predicate = json.loads(base64.b64decode(json.loads(out.read_text())["payload"]))["predicate"]
    for condition in _conditions():
        path = re.search(r"\{\{ ([A-Za-z0-9.]+) \}\}", condition["key"]).group(1)
        value = predicate
        for part in path.split("."):
            value = value[part]
        if condition["operator"] == "Equals":
            assert value == condition["value"], path
        elif path == "verifiedLevels":
            assert set(condition["value"]) <= set(value)
        elif path == "timeVerified":
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)  # RFC 3339, as time_since reads it
        else:
            assert isinstance(value, str) and len(value) == 64, path  # the policy digest an operator pins
