"""Real benign files from public packages' own wheels and sdists (tests/assets/real, see its README) give no
error-level finding under a policy that permits every format and switches on the matching profiles; a
malicious variant of each (an import of posix.system written into its pickle) is still critical.

Each file pins the root cause of one false positive: TorchScript's list builders under the denied torch.jit,
Python 2 names and headers, joblib's array wrapper and Python 2 dtype flags, the newline numpy's own object
arrays end in, and library classes outside the built-in allowlist (now in profiles)."""

from __future__ import annotations

import ast
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest
import yaml

from weightgate.findings import Finding
from weightgate.formats import Format
from weightgate.rules import Level, Severity
from weightgate.scan import ScanOptions, run_scan

REAL = Path(__file__).parents[1] / "assets" / "real"
PROFILES = ["numpy", "gensim", "sklearn", "torchscript"]
PAYLOAD = b"cposix\nsystem\n0"  # GLOBAL posix.system, then POP: the import alone is what the gate must catch
NPY_MAGIC = b"\x93NUMPY"

NUMPY = ["py2-objarr.npy", "py2-objarr.npz", "py3-objarr.npy", "py3-objarr.npz", "python3.npy",
         "win64python2.npy", "astype_copy.pkl", "numpy_2_0_array.pkl"]
GENSIM = ["atmodel_3_0_1_model", "ldamodel_python_2_7", "ldamodel_python_2_7.expElogbeta.npy",
          "ldamodel_python_2_7.id2word", "ldamodel_python_2_7.state", "nmf_model", "old_keyedvectors_320.dat",
          "phraser-3.6.0.model", "phrases-3.6.0.model", "poincare_test_3.4.0", "tfidf_model_3_2.tst",
          "word2vec_pre_kv_py2"]
JOBLIB = ["joblib_0.10.0_pickle_py27_np17.pkl", "joblib_0.11.0_pickle_py36_np111.pkl"]
TORCHSCRIPT = ["scripted_lists.pt", "traced_sequential.pt"]
BENIGN = [f"numpy/{n}" for n in NUMPY] + [f"gensim/{n}" for n in GENSIM] + [f"torchscript/{n}" for n in TORCHSCRIPT]


def permissive_policy(tmp_path: Path, profiles: list[str]) -> Path:
    policy = {"apiVersion": "weightgate.dev/v1", "kind": "Policy",
              "formats": {"default": "permitted", **{fmt.value: "permitted" for fmt in Format}},
              "pickle": {"allow_profiles": profiles}}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path


def scan_files(tmp_path: Path, files: dict[str, bytes], profiles: list[str] = PROFILES) -> list[Finding]:
    root = tmp_path / "files"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    report = run_scan(ScanOptions(paths=(root,), policy=permissive_policy(tmp_path, profiles), source_root=tmp_path))
    return list(report.active_findings)


def errors(findings: list[Finding]) -> list[str]:
    return [f"{f.rule.id} {f.message}" for f in findings if f.severity.level is Level.ERROR]


def test_the_committed_files_match_the_digests_fetch_py_checks() -> None:
    source = (REAL / "fetch.py").read_text(encoding="utf-8")
    table = dict(re.findall(r'"([\w./-]+)": \(?[^"]*(?:"[^"]*"[^"]*)?"([0-9a-f]{64})"', source))
    assert len(table) == len(BENIGN) + len(JOBLIB)
    for local, sha in table.items():
        assert hashlib.sha256((REAL / local).read_bytes()).hexdigest() == sha, local


@pytest.mark.parametrize("name", BENIGN)
def test_real_benign_file_has_no_error_level_finding(tmp_path: Path, name: str) -> None:
    assert errors(scan_files(tmp_path, {name: (REAL / name).read_bytes()})) == []


@pytest.mark.parametrize("name", JOBLIB)
def test_old_joblib_files_are_walked_to_their_arrays_which_lack_padding(tmp_path: Path, name: str) -> None:
    """joblib 0.10/0.11 wrote dtype flags as Python 2's ints and no alignment padding: the dtype is followed
    now, and what remains is the deliberate WG505 on unpadded array bytes (a polyglot for pickle.load)."""
    found = errors(scan_files(tmp_path, {name: (REAL / "joblib" / name).read_bytes()}))
    assert len(found) == 1
    assert found[0].startswith("WG505") and "without alignment padding (joblib < 1.2)" in found[0]


def test_without_profiles_library_classes_are_still_reported(tmp_path: Path) -> None:
    found = scan_files(tmp_path, {"m": (REAL / "gensim" / "ldamodel_python_2_7").read_bytes(),
                                  "t.pt": (REAL / "torchscript" / "scripted_lists.pt").read_bytes()}, profiles=[])
    messages = " ".join(errors(found))
    assert "gensim.models.ldamodel.LdaModel is not allowlisted" in messages
    assert "numpy.random.__RandomState_ctor is not allowlisted" in messages
    assert "__torch__.ListHolder is not allowlisted" in messages
    assert "torch.jit._pickle" not in messages  # the list builders need no profile


# --- malicious variants: the same files with posix.system imported inside the pickle a loader reads --------


def inject_pickle(data: bytes) -> bytes:
    at = 2 if data[:1] == b"\x80" else 0  # after PROTO, before any FRAME
    return data[:at] + PAYLOAD + data[at:]


def npy_header_end(data: bytes) -> int:
    width = 2 if data[6] == 1 else 4
    return 8 + width + int.from_bytes(data[8 : 8 + width], "little")


def inject_npy(data: bytes) -> bytes:
    end = npy_header_end(data)
    header = ast.literal_eval(data[10:end].decode("latin-1").replace("L,", ",").replace("L)", ")"))
    if "O" in str(header["descr"]):
        return data[:end] + inject_pickle(data[end:])
    # A plain array becomes an object array of the same shape whose data is the payload pickle.
    text = repr({"descr": "|O", "fortran_order": False, "shape": header["shape"]}).encode("latin-1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return NPY_MAGIC + b"\x01\x00" + len(text).to_bytes(2, "little") + text + inject_pickle(b"\x80\x02N.")


def rezip(data: bytes, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return out.getvalue()


def malicious(name: str, data: bytes) -> bytes:
    if name.endswith(".npz"):
        return rezip(data, lambda member, content: inject_npy(content))
    if name.endswith(".pt"):
        return rezip(data, lambda member, content: inject_pickle(content) if member.endswith("/data.pkl")
                     else content)
    if data.startswith(NPY_MAGIC):
        return inject_npy(data)
    return inject_pickle(data)


@pytest.mark.parametrize("name", BENIGN + [f"joblib/{n}" for n in JOBLIB])
def test_a_malicious_variant_of_each_real_file_is_critical(tmp_path: Path, name: str) -> None:
    found = scan_files(tmp_path, {name: malicious(name, (REAL / name).read_bytes())})
    denied = [f for f in found if f.rule.id == "WG502" and "posix.system" in f.message]
    assert denied, [f"{f.rule.id} {f.message}" for f in found]
    assert all(f.severity is Severity.CRITICAL for f in denied)
