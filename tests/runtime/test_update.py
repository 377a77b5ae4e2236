"""`weightgate advisories update`: a new snapshot replaces the old one only once it is fetched whole, reads as
OSV with PyPI records and has the expected sha256; it is indexed on arrival and its sha256 printed to pin."""

from __future__ import annotations

import hashlib

import pytest

from mirror.netcase import mirror_policy
from runtime.osv import real_records, write_zip
from weightgate.cli import main
from weightgate.exitcodes import EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.runtime.advisories import index_path_for


def test_update_from_a_local_mirror_prints_the_digest_and_indexes(tmp_path, capsys):
    source = tmp_path / "mirror" / "PyPI" / "all.zip"
    sha = write_zip(source)
    target = tmp_path / "policy" / "osv.zip"
    assert main(["advisories", "update", "--from", source.as_uri(), "--to", str(target), "--sha256", sha]) == EXIT_PASS
    out = capsys.readouterr().out
    assert f"advisories.sha256: {sha}" in out
    assert "10 OSV records (10 for PyPI packages)" in out
    assert target.read_bytes() == source.read_bytes()
    assert index_path_for(target, sha).is_file()
    assert [p.name for p in target.parent.iterdir() if "incoming" in p.name] == []


@pytest.mark.parametrize("case", ["not-a-zip", "no-pypi-records", "wrong-sha256", "missing"])
def test_a_bad_snapshot_never_replaces_the_old_one(tmp_path, capsys, case):
    target = tmp_path / "osv.zip"
    old = write_zip(target)
    source = tmp_path / "new.zip"
    expected = []
    if case == "not-a-zip":
        source.write_bytes(b"<html>login</html>")
    elif case == "no-pypi-records":
        write_zip(source, {})
    elif case == "wrong-sha256":
        write_zip(source, {k: v for k, v in real_records().items() if "torch" not in k})
        expected = ["--sha256", "0" * 64]
    assert main(["advisories", "update", "--from", str(source), "--to", str(target), *expected]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "not taken" in err
    assert "Traceback" not in err
    assert hashlib.sha256(target.read_bytes()).hexdigest() == old


@pytest.mark.server
def test_update_over_https(tmp_path, ws, nginx, test_ca, capsys):
    local = tmp_path / "all.zip"
    sha = write_zip(local)
    nginx.put("osv/PyPI/all.zip", local.read_bytes())
    policy = mirror_policy(ws, test_ca.pem)
    target = tmp_path / "osv.zip"
    code = main(["advisories", "update", "--from", f"{nginx.https_url}/osv/PyPI/all.zip", "--to", str(target),
                 "--policy", str(policy)])
    assert code == EXIT_PASS, capsys.readouterr().err
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha


@pytest.mark.server
def test_the_gate_reads_a_snapshot_named_by_uri_through_the_mirror_transport(tmp_path, ws, nginx, test_ca,
                                                                             monkeypatch):
    from checks.test_runtime_deps import _artifact, _service, runtime_ids
    from runtime.osv import FRESH_DAY

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where network snapshots are copied
    local = tmp_path / "all.zip"
    sha = write_zip(local)
    nginx.put("osv-gate/all.zip", local.read_bytes())
    # The policy names the snapshot and pins it: it is read even though only the local mirror is approved for
    # artifacts (approved_roots judge what the manifest names).
    policy = mirror_policy(ws, test_ca.pem, approved_roots=["mirror"])
    text = policy.read_text() + f"advisories:\n  snapshot: {nginx.https_url}/osv-gate/all.zip\n  sha256: {sha}\n"
    policy.write_text(text)
    manifest = ws.write_manifest([_artifact(ws, b"torch==2.5.1\n")], services=[_service()])
    report = ws.check(manifest, policy=policy, today=FRESH_DAY)
    assert runtime_ids(report) == ["WG702"]
    assert (tmp_path / "cache" / "weightgate" / "advisories" / sha / "all.zip").is_file()


@pytest.mark.server
def test_a_lock_on_the_network_must_be_an_approved_mirror(tmp_path, ws, nginx, test_ca, monkeypatch):
    import hashlib as _hashlib

    from checks.test_runtime_deps import UV_LOCK, _artifact, _service, runtime_ids
    from runtime.osv import FRESH_DAY

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lock = UV_LOCK.format(torch="2.5.1")
    nginx.put("locks/uv.lock", lock.encode())
    runtime = {"lock": f"{nginx.https_url}/locks/uv.lock", "sha256": _hashlib.sha256(lock.encode()).hexdigest()}
    sha = write_zip(ws.root / "osv.zip")
    for roots, expected in (([], ["WG702"]), (["mirror"], ["WG705"])):
        policy = mirror_policy(ws, test_ca.pem, approved_roots=roots)
        policy.write_text(policy.read_text() + f"advisories:\n  snapshot: osv.zip\n  sha256: {sha}\n")
        manifest = ws.write_manifest([_artifact(ws, b"safetensors==0.4.5\n")], services=[_service(runtime=runtime)])
        assert runtime_ids(ws.check(manifest, policy=policy, today=FRESH_DAY)) == expected, roots
        offline = ws.check(manifest, policy=policy, today=FRESH_DAY, offline=True)
        assert runtime_ids(offline) == []  # not read offline, and not a finding: the full run reads it
