"""`weightgate inventory`: which artifacts (by digest) run where, read back from the ML-BOMs `check --bom`
writes, with owner, approvals, last validation and what is overdue; as a table, JSON and CSV."""

import copy
import csv
import datetime
import io
import json

import pytest

from conftest import safetensors_bytes
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.facts import artifact_digest
from weightgate.report.inventory import build_inventory, render_csv, render_json, render_table

AS_OF = datetime.date(2026, 11, 26)


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


@pytest.fixture
def bom(ws):
    """A real BOM: a production chat service and an offline batch job sharing an embedder."""
    chat = ws.artifact("chat", files={"model.safetensors": safetensors_bytes(8)}, targets=["prod-eu-1"],
                       rollback="chat-v1")
    previous = ws.artifact("chat-v1", files={"model.safetensors": safetensors_bytes(12)})
    embedder = ws.artifact("embedder", last_validated="2026-07-01", owner="search@example.com")
    services = [{"name": "support-chat", "environment": "production", "targets": ["prod-eu-1"],
                 "artifacts": ["chat", "embedder"], "monitoring": "https://grafana.example.com/d/chat"},
                {"name": "batch", "environment": "staging", "artifacts": ["embedder"]}]
    manifest = ws.write_manifest([chat, previous, embedder], services=services, metadata={"name": "support"})
    path = ws.root / "support.bom.json"
    # A policy where the workspace's text approvals count (the built-in default counts only signed records).
    main(["check", str(manifest), "--policy", str(ws.write_policy()), "--bom", str(path), "-q", "--as-of",
          AS_OF.isoformat()])
    return {"path": path, "chat": _digest(chat), "embedder": _digest(embedder), "ws": ws}


def test_one_bom_answers_where_each_digest_runs(bom):
    inventory = build_inventory([bom["path"]], 90, AS_OF)
    rows = {r.artifact: r for r in inventory.rows}
    chat, embedder = rows["chat"], rows["embedder"]
    assert chat.digest == bom["chat"] and chat.deployment == "support" and chat.services == ("support-chat",)
    assert chat.environments == ("production",) and chat.targets == ("prod-eu-1",)
    assert chat.owner == "team@example.com" and chat.approved_by == ("sec@example.com (security, 2026-11-01)",)
    assert chat.last_validated == datetime.date(2026, 11, 1) and chat.age_days == 25 and not chat.overdue
    assert embedder.services == ("batch", "support-chat") and embedder.environments == ("production", "staging")
    assert embedder.overdue and embedder.age_days == 148  # validated 2026-07-01: past the quarterly limit
    assert rows["chat-v1"].rollback_for == ("chat",) and rows["chat-v1"].environments == ("production",)
    assert not any(r.overdue for r in build_inventory([bom["path"]], 365, AS_OF).rows)


def _variant(document, n):
    """BOM n of a thousand: its own deployment, artifact digests and validation dates."""
    doc = copy.deepcopy(document)
    doc["metadata"]["component"]["name"] = f"deployment-{n:04d}"
    for component in doc["components"]:
        for prop in component.get("properties", []):
            if prop["name"] == "weightgate:artifact-digest":
                prop["value"] = "sha256:" + f"{n:04d}".rjust(64, "a")
            if prop["name"] == "weightgate:last-validated":
                prop["value"] = "2026-11-01" if n % 2 else "2026-01-01"
    return doc


def test_a_thousand_boms(bom, tmp_path):
    document = json.loads(bom["path"].read_text())
    paths = []
    for n in range(1000):
        path = tmp_path / f"bom-{n:04d}.json"
        path.write_text(json.dumps(_variant(document, n)))
        paths.append(path)
    inventory = build_inventory(paths, 90, AS_OF)
    assert inventory.boms_read == 1000 and len(inventory.rows) == 3000 and not inventory.problems
    assert len({r.deployment for r in inventory.rows}) == 1000
    assert sum(r.overdue for r in inventory.rows) == 1500  # even-numbered deployments validated in January
    row = next(r for r in inventory.rows if r.deployment == "deployment-0007" and r.artifact == "chat")
    assert row.digest == "sha256:" + "0007".rjust(64, "a") and not row.overdue
    assert row.services == ("support-chat",) and row.environments == ("production",)


def test_newest_bom_of_a_deployment_wins(bom, tmp_path):
    document = json.loads(bom["path"].read_text())
    older = copy.deepcopy(document)
    older["metadata"]["timestamp"] = "2020-01-01T00:00:00+00:00"
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(older))
    inventory = build_inventory([bom["path"], old_path], 90, AS_OF)
    assert inventory.superseded == (str(old_path),) and len(inventory.rows) == 3
    assert {r.bom for r in inventory.rows} == {str(bom["path"])}


def test_formats(bom):
    inventory = build_inventory([bom["path"]], 90, AS_OF)
    table = render_table(inventory)
    assert "OVERDUE (148 days)" in table and "support-chat [production]" in table
    assert "3 artifacts (3 digests) in 1 deployments; 1 overdue" in table
    assert "rollback for chat [production]" in table
    document = json.loads(render_json(inventory))
    assert document["revalidationDays"] == 90 and len(document["artifacts"]) == 3
    rows = list(csv.DictReader(io.StringIO(render_csv(inventory))))
    assert {r["artifact"]: r["overdue"] for r in rows} == {"chat": "false", "chat-v1": "false", "embedder": "true"}
    assert next(r for r in rows if r["artifact"] == "embedder")["services"] == "batch; support-chat"


def test_csv_cells_cannot_become_formulas(bom, tmp_path):
    document = json.loads(bom["path"].read_text())
    for component in document["components"]:
        for prop in component.get("properties", []):
            if prop["name"] == "weightgate:owner":
                prop["value"] = "=HYPERLINK(\"http://evil\")"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(document))
    rows = list(csv.DictReader(io.StringIO(render_csv(build_inventory([path], 90, AS_OF)))))
    assert all(r["owner"].startswith("'=") for r in rows)


def test_cli(bom, tmp_path, capsys):
    args = ["inventory", str(bom["path"]), "--as-of", AS_OF.isoformat()]
    assert main([*args, "--format", "csv"]) == EXIT_PASS
    assert capsys.readouterr().out.startswith("digest,artifact,")
    assert main([*args, "--fail-on-overdue"]) == EXIT_FINDINGS
    assert "OVERDUE" in capsys.readouterr().out
    policy = bom["ws"].write_policy(revalidation_days=365)
    assert main([*args, "--fail-on-overdue", "--policy", str(policy), "--format", "json"]) == EXIT_PASS
    assert json.loads(capsys.readouterr().out)["revalidationDays"] == 365
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["inventory", str(bom["path"]), str(broken)]) == EXIT_INPUT_ERROR
    assert "broken.json: is not JSON" in capsys.readouterr().err
