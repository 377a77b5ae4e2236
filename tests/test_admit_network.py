"""`weightgate admit` over the network: against a real S3 gateway (SeaweedFS over HTTPS), where the model, the
decision records and the deployment records all live in a bucket, read and written through the same mirror code as
`check`; and through a proxy that cuts, truncates or refuses the records' download, which must fail closed."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from conftest import safetensors_bytes
from evidence.signing import write_key
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_PASS

pytestmark = pytest.mark.server

FILES = {"model.safetensors": safetensors_bytes(24), "config.json": b'{"a": 1}'}


@pytest.fixture
def aws_env(seaweed, monkeypatch):
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture(scope="module")
def bucket(seaweed):
    """One bucket for the module (each bucket costs the gateway volumes); each test has its own prefix."""
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    seaweed.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucketed(ws, seaweed, aws_env, bucket):
    """The model checked from a local mirror, then published with its decision records under a fresh prefix."""
    client = seaweed.client()
    prefix = uuid.uuid4().hex[:8]
    art = ws.artifact("fraud", files=FILES)
    private, public = write_key(ws.root / "keys", "gate")
    deploy_private, deploy_public = write_key(ws.root / "keys", "deploy")
    decisions = ws.root / "decisions.intoto.jsonl"
    assert main(["check", str(ws.write_manifest([art])), "--attest", str(decisions), "--attest-key", str(private),
                 "-q"]) == EXIT_PASS
    for name, data in FILES.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/models/fraud/{name}", Body=data)
    client.put_object(Bucket=bucket, Key=f"{prefix}/evidence/decisions/decisions.intoto.jsonl",
                      Body=decisions.read_bytes())
    subject = json.loads(base64.b64decode(json.loads(decisions.read_text())["payload"]))["subject"][0]
    return {"bucket": f"{bucket}/{prefix}", "name": bucket, "prefix": prefix, "client": client,
            "digest": "sha256:" + subject["digest"]["sha256"],
            "public": public, "deploy_private": deploy_private, "deploy_public": deploy_public}


def _admit(seaweed, b, *extra):
    return main(["admit", f"s3://{b['bucket']}/models/fraud", "--records", f"s3://{b['bucket']}/evidence/decisions",
                 "--key", str(b["public"]), "--digest", b["digest"], "--s3-endpoint", seaweed.endpoint,
                 "--ca-bundle", str(seaweed.ca_pem), *extra])


def test_admitted_from_a_bucket_with_the_deployment_record_written_back(seaweed, bucketed, capsys):
    assert _admit(seaweed, bucketed, "--record-to", f"s3://{bucketed['bucket']}/evidence/deployments",
                  "--record-key", str(bucketed["deploy_private"]), "--service", "fraud-api", "--environment",
                  "production") == EXIT_PASS
    assert "deployment record: s3://" in capsys.readouterr().out
    listed = bucketed["client"].list_objects_v2(Bucket=bucketed["name"],
                                                Prefix=f"{bucketed['prefix']}/evidence/deployments/")
    (entry,) = listed["Contents"]
    assert entry["Key"].endswith(".intoto.jsonl")
    # The trail reads it back from the bucket, verified with the deploy key.
    assert main(["trail", "--records", f"s3://{bucketed['bucket']}/evidence/deployments", "--key",
                 str(bucketed["deploy_public"]), "--format", "json", "--s3-endpoint", seaweed.endpoint,
                 "--ca-bundle", str(seaweed.ca_pem)]) == EXIT_PASS
    (artifact,) = json.loads(capsys.readouterr().out)["artifacts"]
    assert artifact["environments"] == ["production"]


def test_a_tampered_object_and_an_extra_object_are_refused(seaweed, bucketed, capsys):
    client, bucket, prefix = bucketed["client"], bucketed["name"], bucketed["prefix"]
    client.put_object(Bucket=bucket, Key=f"{prefix}/models/fraud/config.json", Body=b'{"a": 2}')
    client.put_object(Bucket=bucket, Key=f"{prefix}/models/fraud/extra.pkl", Body=b"N.")
    assert _admit(seaweed, bucketed) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (changed-bytes)" in out and "config.json" in out
    assert "refused (extra-file)" in out and "extra.pkl" in out


def test_wrong_credentials_fail_closed(seaweed, bucketed, monkeypatch, capsys):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert _admit(seaweed, bucketed) == EXIT_FINDINGS
    assert "refused (unreachable)" in capsys.readouterr().out


@pytest.mark.parametrize(("fault", "admitted"), [("ok", True), ("truncate", False), ("drop", False),
                                                 ("error503", False), ("wrong-length", False)])
def test_interrupted_record_downloads_fail_closed(ws, nginx, fault_proxy, test_ca, capsys, fault, admitted):
    art = ws.artifact(f"net-{fault}", files=FILES)
    private, public = write_key(ws.root / "keys", "gate")
    decisions = ws.root / "decisions.intoto.jsonl"
    assert main(["check", str(ws.write_manifest([art])), "--attest", str(decisions), "--attest-key", str(private),
                 "-q"]) == EXIT_PASS
    name = f"admit-{fault}-{uuid.uuid4().hex[:6]}"
    nginx.put(f"{name}/decisions.intoto.jsonl", decisions.read_bytes())
    digest = "sha256:" + json.loads(base64.b64decode(json.loads(decisions.read_text())["payload"]))["subject"][0][
        "digest"]["sha256"]
    code = main(["admit", str(ws.mirror / f"net-{fault}"), "--records",
                 f"{fault_proxy.url(fault)}/{name}/decisions.intoto.jsonl", "--key", str(public), "--digest", digest,
                 "--ca-bundle", str(test_ca.pem)])
    out = capsys.readouterr().out
    assert code == (EXIT_PASS if admitted else EXIT_FINDINGS), out
    assert admitted or "refused (unreachable)" in out
