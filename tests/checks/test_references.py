"""WG201-WG205 through the whole gate: the finding lands on the manifest line that holds the reference."""

import pytest

from conftest import rule_ids


def test_mutable_revision_points_at_the_revision_line(ws):
    art = ws.artifact("a", source={"registry": "huggingface", "uri": "hf://o/a", "revision": "main"})
    path = ws.write_manifest([art])
    report = ws.check(path)
    assert rule_ids(report) == ["WG201"]
    line = path.read_text().splitlines()[report.active_findings[0].location.line - 1]
    assert line.strip() == "revision: main"


def test_mlflow_alias_points_at_the_uri_line(ws):
    art = ws.artifact("a", source={"registry": "mlflow", "uri": "models:/a@champion"})
    path = ws.write_manifest([art])
    report = ws.check(path)
    assert rule_ids(report) == ["WG201"]
    assert "models:/a@champion" in path.read_text().splitlines()[report.active_findings[0].location.line - 1]


def test_unversioned_object_key(ws):
    art = ws.artifact("a", source={"registry": "s3", "uri": "s3://bucket/a/model.safetensors"})
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG204"]
    policy = ws.write_policy(mirrors={"require_object_versions": False})
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == []


@pytest.mark.parametrize("mirror", ["https://huggingface.co/org/a/resolve/main", "hf://org/a",
                                    "https://cdn-lfs.huggingface.co/repos/x"])
def test_public_hub_at_deploy_time(ws, mirror):
    report = ws.check(ws.write_manifest([ws.artifact("a", mirror=mirror)]), offline=True)
    assert rule_ids(report) == ["WG202"]


def test_mirror_outside_approved_roots(ws):
    policy = ws.write_policy(mirrors={"approved_roots": ["./approved"]})
    report = ws.check(ws.write_manifest([ws.artifact("a")]), policy=policy, offline=True)
    assert rule_ids(report) == ["WG203"]
    ok = ws.write_policy(mirrors={"approved_roots": ["./mirror"]})
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a")]), policy=ok, offline=True)) == []


def test_prefix_of_a_root_name_is_not_inside_it(ws):
    (ws.root / "mirror-evil").mkdir()
    policy = ws.write_policy(mirrors={"approved_roots": ["./mirror"]})
    art = ws.artifact("a", mirror="../mirror-evil/a")
    assert "WG203" in rule_ids(ws.check(ws.write_manifest([art]), policy=policy, offline=True))


def test_missing_mirror(ws):
    art = ws.artifact("a")
    path = ws.write_manifest([art])
    text = path.read_text().replace("mirror_base: mirror\n", "")
    path.write_text(text)
    assert rule_ids(ws.check(path, offline=True)) == ["WG205"]
