"""Matching pinned versions against real OSV records (tests/assets/osv/), the index kept beside the snapshot, and
snapshots that cannot be used (never read as "no vulnerabilities")."""

import json

import pytest

from runtime.osv import NEWEST_MODIFIED, TORCH_WEIGHTS_ONLY, real_records, write_zip
from weightgate.runtime.advisories import (
    MAX_RECORD_BYTES,
    SnapshotError,
    cvss_rating,
    index_path_for,
    open_index,
    snapshot_sha256,
)


@pytest.fixture
def index(tmp_path):
    path = tmp_path / "osv.zip"
    sha = write_zip(path)
    opened, _info = open_index(path, sha)
    yield opened
    opened.close()


@pytest.mark.parametrize(("package", "version", "expected"), [
    # torch.load(weights_only=True) bypass, CVE-2025-32434: ECOSYSTEM range introduced 0, fixed 2.6.0.
    ("torch", "2.5.1", {"PYSEC-2025-41"}),
    ("torch", "2.6.0", set()),
    ("torch", "1.13.0", {"PYSEC-2025-41", "PYSEC-2024-259", "PYSEC-2022-43015"}),
    ("Torch", "2.4.1", {"PYSEC-2025-41", "PYSEC-2024-259"}),  # names compare as PEP 503 names
    ("transformers", "4.30.0", {"PYSEC-2024-227", "PYSEC-2025-40"}),
    ("transformers", "4.49.0", set()),
    # keras: `last_affected` 3.7.0 (PYSEC-2025-121); two introduced/fixed pairs in one range (PYSEC-2026-2546).
    ("keras", "3.7.0", {"PYSEC-2025-121", "PYSEC-2025-122", "PYSEC-2026-2546"}),
    ("keras", "3.12.1", set()),
    ("keras", "3.13.1", {"PYSEC-2026-2546"}),
    ("keras", "3.13.2", set()),
    ("keras", "2.15.0", {"PYSEC-2025-121"}),  # before PYSEC-2025-122's introduced 3.0.0
    ("onnx", "1.15.0", {"PYSEC-2024-222"}),
    ("llama-cpp-python", "0.2.60", {"PYSEC-2026-392"}),
    ("llama-cpp-python", "0.2.29", set()),  # before introduced 0.2.30
    ("llama-cpp-python", "0.2.72", set()),
    ("safetensors", "0.4.5", set()),  # no advisory names safetensors in the fixture snapshot
])
def test_real_advisories_match_with_packaging_semantics(index, package, version, expected):
    assert {a.id for a in index.affecting(package, version)} == expected


def test_a_match_names_its_aliases_fixed_versions_and_cvss(index):
    (advisory,) = index.affecting("torch", "2.5.1")
    assert advisory.id == TORCH_WEIGHTS_ONLY
    assert advisory.ids_shown == "PYSEC-2025-41 (CVE-2025-32434, GHSA-53q9-r3pm-6pq6)"
    assert advisory.fixed == ("2.6.0",)
    assert advisory.rating is not None
    assert (advisory.rating.score, advisory.rating.label) == (9.8, "critical")


def test_fixed_versions_above_the_pin_lowest_first(index):
    (advisory,) = [a for a in index.affecting("keras", "3.0.0") if a.id == "PYSEC-2026-2546"]
    assert advisory.fixed == ("3.12.1", "3.13.2")


def test_cvss_v4_and_database_severity():
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    rating = cvss_rating([{"type": "CVSS_V4", "score": v4}, {"type": "CVSS_V3", "score": "garbage"}])
    assert rating is not None
    assert (rating.score, rating.label, rating.method) == (9.3, "critical", "CVSS_V4")
    moderate = cvss_rating([{"type": "CVSS_V3", "score": "not a vector"}], "MODERATE")
    assert moderate is not None
    assert moderate.label == "medium"
    assert cvss_rating([]) is None


def test_the_index_is_built_once_beside_the_snapshot_keyed_by_its_digest(tmp_path):
    path = tmp_path / "osv.zip"
    sha = write_zip(path)
    first, info = open_index(path, sha)
    first.close()
    assert info.index_path == str(index_path_for(path, sha))
    assert (info.records, info.pypi_records, info.newest_modified) == (10, 10, NEWEST_MODIFIED)
    built = index_path_for(path, sha).stat().st_mtime_ns
    again, _ = open_index(path, sha)
    again.close()
    assert index_path_for(path, sha).stat().st_mtime_ns == built
    # A new snapshot has a new digest, so a new index: the old one is never read for it.
    records = real_records()
    records.pop("PYSEC-2025-41.json")
    newer = write_zip(path, records)
    fresh, _ = open_index(path, newer)
    assert fresh.affecting("torch", "2.5.1") == ()
    fresh.close()


def test_a_folder_snapshot_has_a_digest_over_its_files(tmp_path):
    folder = tmp_path / "osv"
    folder.mkdir()
    for name, data in real_records().items():
        (folder / name).write_bytes(data)
    digest = snapshot_sha256(folder)
    index, _info = open_index(folder, digest)
    assert {a.id for a in index.affecting("torch", "2.5.1")} == {TORCH_WEIGHTS_ONLY}
    index.close()
    (folder / "PYSEC-2024-259.json").write_bytes(b"{}")
    assert snapshot_sha256(folder) != digest


def _broken(tmp_path, members):
    path = tmp_path / "osv.zip"
    return path, write_zip(path, members)


@pytest.mark.parametrize(("members", "reason"), [
    ({}, "none for a PyPI package"),
    ({"GO-2024-1.json": json.dumps({"id": "GO-2024-1", "affected": [
        {"package": {"ecosystem": "Go", "name": "x"}}]}).encode()}, "none for a PyPI package"),
    ({**real_records(), "broken.json": b"{not json"}, "broken.json is not JSON"),
    ({**real_records(), "list.json": b"[1, 2]"}, "is not an OSV record"),
    ({**real_records(), "huge.json": b" " * (MAX_RECORD_BYTES + 1)}, "larger than"),
], ids=["empty", "no-pypi-record", "not-json", "not-osv", "oversize-record"])
def test_an_unusable_snapshot_raises_never_reads_as_no_vulnerabilities(tmp_path, members, reason):
    path, sha = _broken(tmp_path, members)
    with pytest.raises(SnapshotError, match=reason):
        open_index(path, sha)


def test_a_file_that_is_not_a_zip(tmp_path):
    path = tmp_path / "osv.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SnapshotError, match="not a zip"):
        open_index(path, snapshot_sha256(path))


def test_an_index_beside_the_snapshot_is_not_read_when_the_folder_is_untrusted(tmp_path, monkeypatch):
    # With --policy-ref, the snapshot's folder is the change under review: a forged index there (right name, right
    # digest in its metadata, no rows) would hide every advisory. Such runs index into the user's cache instead.
    import sqlite3

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "osv.zip"
    sha = write_zip(path)
    forged = sqlite3.connect(index_path_for(path, sha))
    forged.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                         "CREATE TABLE advisory (package TEXT NOT NULL, record TEXT NOT NULL);")
    forged.executemany("INSERT INTO meta VALUES (?, ?)", [("format", "1"), ("sha256", sha)])
    forged.commit()
    forged.close()
    trusted_folder, _ = open_index(path, sha)
    assert trusted_folder.affecting("torch", "2.5.1") == ()  # what a forged index does where it is believed
    trusted_folder.close()
    untrusted, info = open_index(path, sha, beside=False)
    assert {a.id for a in untrusted.affecting("torch", "2.5.1")} == {TORCH_WEIGHTS_ONLY}
    assert info.index_path.startswith(str(tmp_path / "cache"))
    untrusted.close()


def test_a_policy_read_at_a_revision_does_not_trust_the_index_beside_the_snapshot(tmp_path):
    from weightgate.policy import load_policy

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"apiVersion: weightgate.dev/v1\nkind: Policy\nadvisories:\n  snapshot: osv.zip\n"
                      f"  sha256: {'ab' * 32}\n")
    assert load_policy(policy).advisories.index_beside
    assert not load_policy(policy, revision="0" * 40).advisories.index_beside
