"""The shipped pod spec (deploy/kubernetes/pod.yaml), played for real with `podman kube play`: its init container
runs `weightgate admit` from the project image, and the main container starts only on a good model volume. A
tampered volume, an extra pickle beside the weights and decision records signed by another key each keep it from
starting. Only the images, the digests and the volumes (hostPath folders here, claims and config maps in a
cluster) are replaced; the init container's arguments are the shipped ones."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, safetensors_bytes
from evidence.signing import write_key
from integration.conftest import require_podman
from weightgate.cli import main
from weightgate.facts import artifact_digest

POD_SPEC = REPO_ROOT / "deploy" / "kubernetes" / "pod.yaml"
VOLUMES = ("model", "decisions", "gate-key", "deploy-key", "deployments", "started")


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_podman(), *args], capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """What CI publishes for a release: the model folder, the gate's signed decision and its public key."""
    root = tmp_path_factory.mktemp("release")
    model = root / "mirror" / "fraud"
    model.mkdir(parents=True)
    files = {"model.safetensors": safetensors_bytes(16), "config.json": b'{"architectures": ["Fraud"]}'}
    entries = []
    for name, data in files.items():
        (model / name).write_bytes(data)
        entries.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    digest = artifact_digest((e["path"], e["sha256"], e["size"]) for e in entries)
    manifest = root / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "weightgate.dev/v1", "kind": "DeploymentManifest", "mirror_base": "mirror",
        "artifacts": [{"id": "fraud", "class": "model", "name": "fraud", "version": "3", "owner": "ml@example.com",
                       "intended_use": "fraud scoring", "files": entries, "license": {"spdx": "Apache-2.0"},
                       "source": {"registry": "huggingface", "uri": "hf://org/fraud",
                                  "revision": "3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"},
                       "approvals": [{"approver": "sec@example.com", "role": "security", "date": "2026-11-01",
                                      "digest": digest}],
                       "last_validated": "2026-11-01"}]}))
    keys = root / "keys"
    gate_private, gate_public = write_key(keys, "gate")
    other_private, _ = write_key(keys, "other")
    deploy_private, _ = write_key(keys, "deploy")
    decisions, forged = root / "decisions", root / "forged"
    for folder, key in ((decisions, gate_private), (forged, other_private)):
        assert main(["check", str(manifest), "--attest", str(folder / "decisions.intoto.jsonl"), "--attest-key",
                     str(key), "-q"]) == 0
    line = (decisions / "decisions.intoto.jsonl").read_text().splitlines()[0]
    policy = json.loads(base64.b64decode(json.loads(line)["payload"]))["predicate"]["policy"]["digest"]["sha256"]
    return {"model": model, "digest": digest, "policy": policy, "decisions": decisions, "forged": forged,
            "gate_public": gate_public, "deploy_private": deploy_private}


def _volumes(release, tmp_path: Path, case: str) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in VOLUMES}
    shutil.copytree(release["model"], folders["model"])
    shutil.copytree(release["forged" if case == "foreign-key" else "decisions"], folders["decisions"])
    folders["gate-key"].mkdir()
    shutil.copy(release["gate_public"], folders["gate-key"] / "gate.pub")
    folders["deploy-key"].mkdir()
    shutil.copy(release["deploy_private"], folders["deploy-key"] / "deploy.pem")
    if case == "tampered":
        weights = folders["model"] / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 1
        weights.write_bytes(bytes(data))
    elif case == "extra-pickle":
        (folders["model"] / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    for name in ("deployments", "started"):
        folders[name].mkdir()
    for path in [tmp_path, *tmp_path.rglob("*")]:  # the image's user (10001) reads the volumes, writes two
        path.chmod(0o777 if path.is_dir() else 0o644)
    return folders


def _spec(release, folders: dict[str, Path], image: str, name: str) -> str:
    """The shipped spec with this machine's image, digests and hostPath volumes."""
    pod = yaml.safe_load(POD_SPEC.read_text())
    pod["metadata"]["name"] = name
    spec = pod["spec"]
    (init,) = spec["initContainers"]
    init["image"] = image
    init["args"] = [a.replace("MODEL_DIGEST", release["digest"].removeprefix("sha256:"))
                    .replace("POLICY_DIGEST", release["policy"]) for a in init["args"]]
    (server,) = spec["containers"]
    # The model server stands in as a shell that marks that it started (it never starts on a refusal).
    server.update(image=image, workingDir="/", command=["sh", "-c", "echo started > /started/ok"], args=[])
    server["volumeMounts"].append({"name": "started", "mountPath": "/started"})
    spec["volumes"] = [{"name": n, "hostPath": {"path": str(folders[n]), "type": "Directory"}} for n in VOLUMES]
    return yaml.safe_dump(pod, sort_keys=False)


def _play(release, tmp_path: Path, image: str, case: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Path],
                                                                    str]:
    folders = _volumes(release, tmp_path / "volumes", case)
    name = f"weightgate-test-{case}-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "pod.yaml"
    spec.write_text(_spec(release, folders, image, name))
    try:
        result = podman("kube", "play", "--network", "none", str(spec))
        logs = podman("logs", f"{name}-admit-model").stdout if result.returncode else ""
    finally:
        podman("pod", "rm", "--force", "--time", "0", name)
    return result, folders, logs


def test_the_shipped_spec_runs_admit_in_an_init_container():
    pod = yaml.safe_load(POD_SPEC.read_text())
    (init,) = pod["spec"]["initContainers"]
    assert init["args"][:2] == ["admit", "/models/fraud"]
    for option in ("--digest", "--records", "--key", "--policy-digest", "--max-age", "--record-to", "--record-key"):
        assert option in init["args"], option
    server_mounts = {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert server_mounts["/models/fraud"]["readOnly"] is True  # the server loads what admit checked, unchanged


@pytest.mark.container
@pytest.mark.slow
def test_a_good_volume_starts_the_server_and_leaves_a_deployment_record(release, tmp_path, weightgate_image):
    result, folders, _ = _play(release, tmp_path, weightgate_image, "good")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (folders["started"] / "ok").read_text() == "started\n"
    (record,) = folders["deployments"].iterdir()
    statement = json.loads(base64.b64decode(json.loads(record.read_text())["payload"]))
    assert statement["predicateType"] == "https://weightgate.dev/attestation/deployment/v1"
    assert statement["subject"][0]["digest"]["sha256"] == release["digest"].removeprefix("sha256:")
    predicate = statement["predicate"]
    assert (predicate["service"], predicate["environment"], predicate["target"]) == \
        ("fraud-api", "production", "k8s-eu-1")
    assert predicate["host"].startswith("weightgate-test-good")  # the pod's name, from the downward API


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.parametrize(("case", "refusal"), [
    ("tampered", "changed-bytes"),
    ("extra-pickle", "extra-file"),
    ("foreign-key", "untrusted-signer"),
])
def test_a_refused_volume_never_starts_the_server(release, tmp_path, weightgate_image, case, refusal):
    result, folders, logs = _play(release, tmp_path, weightgate_image, case)
    assert result.returncode != 0 and "init container" in result.stderr, result.stdout + result.stderr
    assert not (folders["started"] / "ok").exists()
    assert not any(folders["deployments"].iterdir())
    assert f"refused ({refusal})" in logs, logs
