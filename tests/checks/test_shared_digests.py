"""WG650: entries that share an artifact digest but differ in class or services (issue 19: one verdict per digest,
so two uses of the same bytes must be visible)."""

import pytest

from conftest import rule_ids, safetensors_bytes

FILES = {"model.safetensors": safetensors_bytes(8)}


def _service(name, artifacts, environment="production"):
    return {"name": name, "environment": environment, "artifacts": artifacts}


@pytest.mark.parametrize(("second", "services", "fires"), [
    ({"class": "dataset"}, None, True),  # a dataset and a model with the same bytes
    ({}, [_service("api", ["prod"])], True),  # one entry serves production, the other nothing
    ({}, [_service("api", ["prod"]), _service("batch", ["data"])], True),  # different services
    ({}, [_service("api", ["prod", "data"])], False),  # the same class run by the same service: one use
    ({}, None, False),
    ({"files": "other"}, [_service("api", ["prod"])], False),  # other bytes: no shared digest
])
def test_entries_sharing_a_digest_across_classes_or_services(ws, second, services, fires):
    prod = ws.artifact("prod", files=FILES)
    other_files = {"model.safetensors": safetensors_bytes(4)} if second.get("files") else FILES
    data = ws.artifact("data", files=other_files, **{k: v for k, v in second.items() if k != "files"})
    report = ws.check(ws.write_manifest([prod, data], services=services))
    assert ("WG650" in rule_ids(report)) is fires
    if fires:
        finding = next(f for f in report.findings if f.rule.id == "WG650")
        assert finding.artifact_id == "data" and "prod" in finding.message
        assert dict(finding.evidence)["entries"] == "prod, data"
