"""Fuzzing the runtime readers: dependency and lock files (mutated real formats and random bytes) and OSV records
(any JSON shape where an OSV field belongs). Nothing raises: a file is requirements or problems, a record is
indexed and matched or the snapshot is refused (SnapshotError), never a traceback."""

from __future__ import annotations

import json
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardening.fuzzing import EDITS, apply_edits, bounded
from runtime.osv import real_records
from weightgate.runtime.advisories import SnapshotError, open_index, snapshot_sha256
from weightgate.runtime.requirements import DependencyFileKind, parse_dependency_file

pytestmark = pytest.mark.fuzz

SEEDS = {
    DependencyFileKind.REQUIREMENTS: b"torch==2.5.1 \\\n  --hash=sha256:ab\nonnx>=1 ; python_version>'3'\n-r x.txt\n",
    DependencyFileKind.PYPROJECT: b'[project]\nname = "m"\ndependencies = ["torch==2.5.1", "onnx"]\n',
    DependencyFileKind.SETUP_CFG: b"[options]\ninstall_requires =\n    torch==2.5.1\n",
    DependencyFileKind.CONDA_ENVIRONMENT: b"dependencies:\n  - python=3.11\n  - pip:\n    - torch==2.5.1\n",
    DependencyFileKind.UV_LOCK: b'version = 1\n[[package]]\nname = "torch"\nversion = "2.5.1"\n',
    DependencyFileKind.POETRY_LOCK: b'[[package]]\nname = "torch"\nversion = "2.5.1"\n',
    DependencyFileKind.PYLOCK: b'lock-version = "1.0"\n[[packages]]\nname = "torch"\nversion = "2.5.1"\n',
}


@given(kind=st.sampled_from(list(DependencyFileKind)), data=st.one_of(
    st.tuples(st.sampled_from(list(SEEDS.values())), EDITS).map(lambda pair: apply_edits(*pair)),
    st.binary(max_size=400)))
def test_dependency_files_never_raise(kind: DependencyFileKind, data: bytes) -> None:
    with bounded():
        parsed = parse_dependency_file(kind, data)
    assert all(r.name for r in parsed.requirements)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.sampled_from(
        ["0", "2.6.0", "1.*", "PyPI", "torch", "ECOSYSTEM", "SEMVER", "GIT", "CVSS:3.1/AV:N", "x" * 3])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["introduced", "fixed", "last_affected", "limit", "type", "events", "ranges", "versions", "package",
         "ecosystem", "name", "score", "severity"]), inner, max_size=4)), max_leaves=25)


def _mutated_record(value: object, field: str) -> bytes:
    record = json.loads(real_records()["PYSEC-2025-41.json"])
    if field == "range":
        record["affected"][0]["ranges"][0] = value
    elif field == "events":
        record["affected"][0]["ranges"][0]["events"] = value
    else:
        record[field] = value
    return json.dumps(record).encode()


@given(value=JSON_VALUES, field=st.sampled_from(["affected", "range", "events", "severity", "aliases", "modified",
                                                 "withdrawn", "references"]),
       version=st.sampled_from(["2.5.1", "2.6.0", "0", "1!2.0", "not a version"]))
def test_records_of_any_shape_never_raise(tmp_path_factory: pytest.TempPathFactory, value: object, field: str,
                                          version: str) -> None:
    path = tmp_path_factory.mktemp("osv") / "osv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PYSEC-2025-41.json", _mutated_record(value, field))
        archive.writestr("PYSEC-2024-259.json", real_records()["PYSEC-2024-259.json"])
    with bounded():
        try:
            index, _ = open_index(path, snapshot_sha256(path), beside=False)
        except SnapshotError:
            return
        try:
            for advisory in index.affecting("torch", version):
                assert advisory.id
        finally:
            index.close()
