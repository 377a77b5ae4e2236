"""A realistic Report built from a real manifest, real bytes and hand-made facts, for every reporter test.

The deployment: a base LLM from Hugging Face, a fine-tune of it (MLflow) with full governance evidence and
one file missing from the mirror, and the fine-tuning dataset; one service deploys the two models.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from validate_outputs import output_errors
from weightgate import __version__
from weightgate.facts import ArtifactFacts, FileFacts, FileStatus
from weightgate.findings import Finding, Location, Waiver
from weightgate.formats import Format
from weightgate.manifest import Manifest, load_manifest
from weightgate.policy import load_policy
from weightgate.report.interface import Report
from weightgate.rules import FILE_MISSING, MIRROR_NOT_APPROVED, REVALIDATION_OVERDUE

TIMESTAMP = datetime.datetime(2024, 6, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)
BASE_REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"
MISTRAL_DIGEST = "sha256:" + "ab" * 32

# What each mirror holds: artifact id -> {path: bytes}. tokenizer.json is pinned but never uploaded.
MIRROR_FILES = {
    "base-llm": {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      base weights"},
    "support-ft": {
        "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      tuned weights",
        "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    },
    "support-tickets": {"train.jsonl": b'{"prompt": "reset password", "answer": "..."}\n'},
}
MISSING_FILE = ("support-ft", "tokenizer.json")
FORMATS = {"model.safetensors": Format.SAFETENSORS, "config.json": Format.JSON, "train.jsonl": Format.TEXT}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pins(artifact_id: str) -> str:
    lines = [
        f"      - {{path: {path}, sha256: {sha256(data)}, size: {len(data)}}}"
        for path, data in MIRROR_FILES[artifact_id].items()
    ]
    if artifact_id == MISSING_FILE[0]:
        lines.append(f"      - {{path: {MISSING_FILE[1]}, sha256: {'cd' * 32}, size: 17}}")
    return "\n".join(lines)


def manifest_text() -> str:
    return f"""\
apiVersion: weightgate.dev/v1
kind: DeploymentManifest
metadata:
  name: support-assistant
mirror_base: mirror
artifacts:
  - id: base-llm
    class: model
    name: Llama-3.1-8B-Instruct
    version: "3.1"
    owner: ml-platform
    source:
      registry: huggingface
      uri: hf://meta-llama/Llama-3.1-8B-Instruct
      revision: {BASE_REVISION}
      publisher: meta-llama
    mirror: base-llm
    files:
{_pins("base-llm")}
    license:
      spdx: LicenseRef-llama3.1
  - id: support-ft
    class: fine-tune
    name: support-assistant-ft
    version: "2.0.1"
    owner: team-support-ml
    intended_use: Drafting answers to customer support tickets for human review.
    source:
      registry: mlflow
      uri: models:/support-ft/7
      revision: "7"
      publisher: support-ml
    mirror: support-ft
    files:
{_pins("support-ft")}
    base_models:
      - artifact: base-llm
      - uri: hf://mistralai/Mistral-7B-v0.1
        revision: 26bca36bde8333b5d7f72e9ed20ccda6a618af24
        digest: "{MISTRAL_DIGEST}"
        license: Apache-2.0
    license:
      spdx: LicenseRef-llama3.1
      review: {{reviewer: legal@example.com, date: "2024-06-01", outcome: approved, record: LEGAL-88}}
    eval_evidence:
      path: https://evals.example.com/support-ft/2.0.1/report.json
      sha256: {"ef" * 32}
    approvals:
      - {{approver: alice@example.com, role: ml-platform, date: "2024-06-10", digest: "sha256:{"12" * 32}",
         ticket: CHG-1001}}
      - {{approver: bob@example.com, role: security, date: "2024-06-11", digest: "sha256:{"12" * 32}"}}
    registry_entry: {{registry: mlflow-prod, id: support-ft/7, stage: production}}
    targets: [eks-prod-eu, eks-prod-us]
    rollback: base-llm
    last_validated: "2024-01-02"
    model_card:
      task: text-generation
      architecture_family: transformer
      model_architecture: LlamaForCausalLM
      datasets: [support-tickets, OpenAssistant/oasst1]
      limitations: [English only, Not for legal or medical advice]
      use_cases: [Drafting support replies reviewed by an agent]
  - id: support-tickets
    class: dataset
    name: support-tickets-2024q2
    owner: team-support-ml
    source:
      registry: s3
      uri: s3://ml-data/support-tickets/2024q2/
      revision: 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY
    mirror: support-tickets
    files:
{_pins("support-tickets")}
    license:
      spdx: CC-BY-4.0 OR MIT
services:
  - name: support-assistant-api
    environment: production
    targets: [eks-prod-eu]
    artifacts: [support-ft, base-llm]
    customer_facing: true
    commercial: true
    monitoring: grafana://support/assistant
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    for artifact_id, files in MIRROR_FILES.items():
        for path, data in files.items():
            target = tmp_path / "mirror" / artifact_id / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    path = tmp_path / "deploy" / "models.yaml"
    path.parent.mkdir()
    path.write_text(manifest_text(), encoding="utf-8")
    loaded = load_manifest(path)
    assert loaded.manifest is not None, loaded.findings
    return loaded.manifest


def _facts(root: Path, artifact_id: str) -> ArtifactFacts:
    mirror = root / "mirror" / artifact_id
    files = [
        FileFacts(path, FileStatus.VERIFIED, (mirror / path).as_uri(), sha256(data), len(data), FORMATS[path],
                  pinned_sha256=sha256(data), pinned_size=len(data))
        for path, data in MIRROR_FILES[artifact_id].items()
    ]
    if artifact_id == MISSING_FILE[0]:
        files.append(FileFacts(MISSING_FILE[1], FileStatus.MISSING, (mirror / MISSING_FILE[1]).as_uri(),
                               reason="not found in the mirror"))
    return ArtifactFacts(artifact_id, mirror.as_uri() + "/", tuple(files))


def _findings(manifest: Manifest) -> tuple[Finding, ...]:
    ft_files = ("artifacts", 1, "files")
    waiver = Waiver(REVALIDATION_OVERDUE.id, "sha256:" + "12" * 32, "re-validation booked for the July release",
                    "2024-07-31", "carol@example.com")
    findings = (
        Finding(FILE_MISSING, "support-ft: tokenizer.json is pinned but missing from the mirror",
                manifest.location((*ft_files, 3)), "support-ft", "tokenizer.json"),
        Finding(REVALIDATION_OVERDUE, "support-ft was last validated 180 days ago (policy: 90)",
                manifest.location(("artifacts", 1, "last_validated")), "support-ft",
                evidence=(("last_validated", "2024-01-02"), ("max_age_days", "90"))).waive(waiver),
        Finding(MIRROR_NOT_APPROVED, "support-tickets: mirror is outside the approved roots",
                Location(str(manifest.path), manifest.document.line_of(("artifacts", 2, "mirror")), 5),
                "support-tickets", confidence="certain"),
    )
    return tuple(sorted(findings, key=lambda f: (f.location.path, f.location.line)))


@pytest.fixture
def report(manifest: Manifest, tmp_path: Path) -> Report:
    policy = load_policy(None)
    return Report(
        tool_version=__version__,
        policy=policy,
        fail_on=policy.fail_on,
        findings=_findings(manifest),
        timestamp=TIMESTAMP,
        source_root=tmp_path,
        manifest=manifest,
        facts=tuple(_facts(tmp_path, a) for a in MIRROR_FILES),
    )


@pytest.fixture
def mirror_files() -> dict[str, dict[str, bytes]]:
    """What each artifact's mirror holds (tokenizer.json of support-ft is pinned but missing)."""
    return MIRROR_FILES


@pytest.fixture
def validate_outputs() -> Callable[[str, Path], list[str]]:
    """Validate one file against the vendored official schemas and GitHub's SARIF needs: its problems."""
    return output_errors
