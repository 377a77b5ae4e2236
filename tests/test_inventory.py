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


# --- what the inventory believes (issue 19) -------------------------------------------------------------------

def _write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _foreign(deployment, timestamp="2026-11-25T00:00:00Z"):
    """A CycloneDX BOM from another tool that happens to use the same deployment name."""
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "metadata": {"timestamp": timestamp, "tools": {"components": [{"type": "application", "name": "syft"}]},
                         "component": {"type": "application", "name": deployment, "bom-ref": "app"}},
            "components": []}


def test_another_tools_newer_bom_never_replaces_the_gates(bom, tmp_path, capsys):
    other = _write(tmp_path, "other.json", _foreign("support"))
    inventory = build_inventory([bom["path"], other], 90, AS_OF)
    assert len(inventory.rows) == 3 and inventory.superseded == ()
    assert [(a.bom, a.deployment) for a in inventory.set_apart] == [(str(other), "support")]
    assert "another tool" in inventory.set_apart[0].reason
    args = ["inventory", str(bom["path"]), str(other), "--as-of", AS_OF.isoformat(), "--fail-on-overdue"]
    assert main(args) == EXIT_FINDINGS  # the embedder is still overdue
    captured = capsys.readouterr()
    assert "not counted:" in captured.out and "not counted:" in captured.err


@pytest.mark.parametrize(("change", "fires"), [
    ({"tools": {"components": [{"name": "syft"}]}}, True),
    ({"component": {"name": "support", "bom-ref": "app"}}, True),
    ({"properties": []}, True),  # no run verdict, no policy digest
    ({}, False),  # the near miss: the gate's own BOM, unchanged
])
def test_a_bom_not_in_the_form_weightgate_writes_is_set_apart(bom, tmp_path, change, fires):
    document = json.loads(bom["path"].read_text())
    document["metadata"].update(change)
    inventory = build_inventory([_write(tmp_path, "b.json", document)], 90, AS_OF)
    assert bool(inventory.set_apart) is fires and (len(inventory.rows) == 0) is fires


@pytest.mark.parametrize("timestamp", ["9999", "tomorrow", "2026-11-26", "2026-11-26T10:00:00", None, 20261126,
                                       "2999-01-01T00:00:00Z"])
def test_a_timestamp_that_is_no_date_or_in_the_future_is_an_error(bom, tmp_path, capsys, timestamp):
    document = json.loads(bom["path"].read_text())
    document["metadata"]["timestamp"] = timestamp
    path = _write(tmp_path, "b.json", document)
    inventory = build_inventory([bom["path"], path], 90, AS_OF)
    assert inventory.problems and "metadata.timestamp" in inventory.problems[0]
    assert {r.bom for r in inventory.rows} == {str(bom["path"])}  # it never supersedes
    assert main(["inventory", str(bom["path"]), str(path)]) == EXIT_INPUT_ERROR


def test_timestamps_are_compared_as_instants_not_as_text(bom, tmp_path):
    document = json.loads(bom["path"].read_text())
    earlier, later = copy.deepcopy(document), copy.deepcopy(document)
    earlier["metadata"]["timestamp"] = "2026-11-26T11:00:00+01:00"  # 10:00Z: sorts after the other as text
    later["metadata"]["timestamp"] = "2026-11-26T10:30:00Z"
    earlier_path, later_path = _write(tmp_path, "a.json", earlier), _write(tmp_path, "b.json", later)
    inventory = build_inventory([later_path, earlier_path], 90, AS_OF)
    assert inventory.superseded == (str(earlier_path),) and {r.bom for r in inventory.rows} == {str(later_path)}


def test_a_bom_with_a_repeated_key_is_an_error(bom, tmp_path):
    text = bom["path"].read_text().replace('"bomFormat": "CycloneDX",', '"bomFormat": "CycloneDX", "bomFormat": "x",')
    path = tmp_path / "twice.json"
    path.write_text(text)
    inventory = build_inventory([path], 90, AS_OF)
    assert inventory.problems and "appears twice" in inventory.problems[0]


def _failed_run(ws):
    """A BOM of a run that failed (a denied license), with every artifact validated recently."""
    art = ws.artifact("agpl", license={"spdx": "AGPL-3.0-only"})
    manifest = ws.write_manifest([art], metadata={"name": "failing"}, name="failing.yaml")
    path = ws.root / "failing.bom.json"
    assert main(["check", str(manifest), "--policy", str(ws.write_policy()), "--bom", str(path), "-q", "--as-of",
                 AS_OF.isoformat()]) == EXIT_FINDINGS
    return path


def test_the_table_shows_each_runs_verdict_and_a_failed_run_validates_nothing(bom, capsys):
    failing = _failed_run(bom["ws"])
    inventory = build_inventory([failing], 90, AS_OF)
    (row,) = inventory.rows
    assert row.verdict == "fail" and not row.overdue and not row.validated
    table = render_table(inventory)
    assert "VERDICT" in table.splitlines()[0] and "NOT VALIDATED (its run did not pass)" in table
    assert "1 more from runs that did not pass" in table
    assert main(["inventory", str(failing), "--as-of", AS_OF.isoformat(), "--fail-on-overdue"]) == EXIT_FINDINGS
    assert main(["inventory", str(failing), "--as-of", AS_OF.isoformat()]) == EXIT_PASS
    policy = bom["ws"].write_policy(revalidation_days=365)  # the near miss: a passing run, nothing overdue
    assert main(["inventory", str(bom["path"]), "--as-of", AS_OF.isoformat(), "--fail-on-overdue", "--policy",
                 str(policy)]) == EXIT_PASS


def test_manifest_text_in_the_table_is_escaped(bom, tmp_path):
    document = json.loads(bom["path"].read_text())
    document["metadata"]["component"]["name"] = "support\n\x1b[2J\u202eevil"
    for component in document["components"]:
        for prop in component.get("properties", []):
            if prop["name"] == "weightgate:owner":
                prop["value"] = "a\r\nb"
    table = render_table(build_inventory([_write(tmp_path, "b.json", document)], 90, AS_OF))
    assert "\x1b" not in table and "\r" not in table and "\u202e" not in table
    assert "support\\n\\x1b[2J\\u202eevil" in table and "a\\r\\nb" in table
    foreign = render_table(build_inventory([_write(tmp_path, "f.json", _foreign("x\n::error::y"))], 90, AS_OF))
    assert "x\\n::error::y" in foreign and "\n::" not in foreign


# --- signed: decision records vouch for the BOMs that count ------------------------------------------------------

@pytest.fixture
def signed(ws):
    from test_attestation import _key_pair

    art = ws.artifact("m")
    manifest = ws.write_manifest([art], metadata={"name": "svc"})
    private, public = _key_pair(ws.root)
    bom_path, records = ws.root / "svc.bom.json", ws.root / "svc.intoto.jsonl"
    assert main(["check", str(manifest), "--policy", str(ws.write_policy()), "--bom", str(bom_path), "--attest",
                 str(records), "--attest-key", str(private), "-q", "--as-of", AS_OF.isoformat()]) == EXIT_PASS
    return {"bom": bom_path, "records": records, "public": public, "digest": _digest(art)}


def test_signed_records_vouch_for_the_bom_and_give_its_verdicts(signed, capsys):
    args = ["inventory", str(signed["bom"]), "--as-of", AS_OF.isoformat(), "--format", "json"]
    assert main([*args, "--attest", str(signed["records"]), "--key", str(signed["public"])]) == EXIT_PASS
    (row,) = json.loads(capsys.readouterr().out)["artifacts"]
    assert row["trust"] == "signed" and row["verdict"] == "pass" and row["digest"] == signed["digest"]
    assert main(args) == EXIT_PASS  # without records: believed by its form
    assert json.loads(capsys.readouterr().out)["artifacts"][0]["trust"] == "structure"


def test_a_bom_no_signed_record_vouches_for_is_set_apart(signed, tmp_path, capsys):
    forged = json.loads(signed["bom"].read_text())
    real = datetime.datetime.fromisoformat(forged["metadata"]["timestamp"].replace("Z", "+00:00"))
    # Newer than the real run, in weightgate's form.
    forged["metadata"]["timestamp"] = (real + datetime.timedelta(seconds=1)).isoformat()
    forged_path = _write(tmp_path, "forged.json", forged)
    base = ["inventory", str(signed["bom"]), str(forged_path), "--as-of", AS_OF.isoformat(), "--format", "json"]
    assert main([*base, "--attest", str(signed["records"]), "--key", str(signed["public"])]) == EXIT_PASS
    document = json.loads(capsys.readouterr().out)
    assert [a["bom"] for a in document["setApart"]] == [str(forged_path)] and document["superseded"] == []
    assert "unsigned" in document["setApart"][0]["reason"]
    assert {r["bom"] for r in document["artifacts"]} == {str(signed["bom"])}
    assert main(base) == EXIT_PASS  # by form alone the forged one wins: that is what records are for
    assert {r["bom"] for r in json.loads(capsys.readouterr().out)["artifacts"]} == {str(forged_path)}


def test_attest_records_need_the_key_and_the_key_needs_records(signed):
    args = ["inventory", str(signed["bom"]), "--as-of", AS_OF.isoformat()]
    assert main([*args, "--attest", str(signed["records"])]) == EXIT_INPUT_ERROR
    assert main([*args, "--key", str(signed["public"])]) == EXIT_INPUT_ERROR
