#!/usr/bin/env python3
"""weightgate benchmarks, each measured as a ratio against a reference run in the same process tree.

    python bench/run.py [--json] [--repeat N] [--workdir DIR] [--quick]

It generates its own inputs (random-content safetensors, GGUF and ONNX-sized files: one of 1 GiB, several
totalling >= 4 GiB; a manifest with 10,000 artifacts; an OSV snapshot the size of PyPI's and a 300-package
lock), runs every scenario `--repeat` times, and prints the median wall time, the ratio against
`openssl dgst -sha256` over the same bytes (or another reference), peak RSS of the weightgate process, and
PASS/FAIL against the targets of issues 8 and 16. Timings come from here, never from unit tests.

weightgate is byte-compiled first, as installing its wheel would leave it; every command (openssl too) is
started and measured by a small launcher process, so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3
MIB = 1024**2
BLOCK = os.urandom(64 * MIB)  # hashing cost does not depend on content; repeating a random block is fair
WEIGHTGATE = [sys.executable, "-m", "weightgate"]
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    scenario: str
    seconds: float
    reference: str
    reference_seconds: float | None
    ratio: float | None
    peak_rss_mib: float
    target: str
    passed: bool


# Each command runs under this launcher, a fresh and small process: on Linux a child's ru_maxrss starts from
# the RSS of the process that forked it, so children forked by this script (which holds the generated data)
# would report this script's size, not their own. The launcher times its child too, leaving out its own start.
LAUNCHER = """
import json, os, subprocess, sys, tempfile, time
errors = tempfile.TemporaryFile()
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=errors)
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - start
errors.seek(0)
err = errors.read().decode(errors="replace")
print(json.dumps([elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), err[-2000:]]))
"""


def run_timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one child process."""
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    elapsed, rss, code, err = json.loads(out.stdout)
    if code not in (0, 1):
        raise SystemExit(f"{cmd} failed ({code}): {err}")
    return elapsed, rss, code


def median_run(cmd: list[str], repeat: int, cwd: Path | None = None) -> tuple[float, float]:
    runs = [run_timed(cmd, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def paired_runs(cmd: list[str], reference: list[str], repeat: int) -> tuple[float, float, float]:
    """(median seconds, median reference seconds, peak RSS MiB), the two commands alternating after one
    untimed warm-up of each, so both read the same bytes from the same page-cache state."""
    run_timed(reference)
    run_timed(cmd)
    ours, refs, rss = [], [], 0.0
    for _ in range(repeat):
        refs.append(run_timed(reference)[0])
        seconds, peak, _ = run_timed(cmd)
        ours.append(seconds)
        rss = max(rss, peak)
    return statistics.median(ours), statistics.median(refs), rss


# --- inputs ------------------------------------------------------------------------------------------------
def write_random(path: Path, size: int, prefix: bytes = b"") -> None:
    with path.open("wb") as f:
        f.write(prefix)
        left = size - len(prefix)
        while left > 0:
            n = min(left, len(BLOCK))
            f.write(BLOCK[:n])
            left -= n


def safetensors_file(path: Path, size: int) -> None:
    data_len = (size - 256) // 4 * 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [data_len // 4], "data_offsets": [0, data_len]}}).encode()
    header += b" " * (-len(header) % 8)
    write_random(path, 8 + len(header) + data_len, struct.pack("<Q", len(header)) + header)


def gguf_file(path: Path, size: int) -> None:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    data_len = (size - 4096) // 4 * 4
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + s("general.architecture") + struct.pack("<I", 8) + s("llama")
    head += s("w") + struct.pack("<I", 1) + struct.pack("<Q", data_len // 4) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    write_random(path, len(head) + data_len, head)


def onnx_file(path: Path, size: int) -> None:
    """A ModelProto whose graph holds one large initializer (raw_data), like an exported model."""
    def varint(n: int) -> bytes:
        out = b""
        while True:
            b, n = n & 0x7F, n >> 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def field(num: int, payload_len: int) -> bytes:
        return varint(num << 3 | 2) + varint(payload_len)

    raw_len = size - 512
    tensor_head = varint(1 << 3) + varint(raw_len // 4) + varint(2 << 3) + varint(1)  # dims, data_type FLOAT
    tensor_head += field(8, 1) + b"w" + field(9, raw_len)  # name, raw_data
    tensor_len = len(tensor_head) + raw_len
    graph_head = field(5, tensor_len)  # initializer
    graph_len = len(graph_head) + tensor_len
    model_head = varint(1 << 3) + varint(8) + field(7, graph_len)
    with path.open("wb") as f:
        f.write(model_head + graph_head + tensor_head)
        left = raw_len
        while left > 0:
            n = min(left, len(BLOCK))
            f.write(BLOCK[:n])
            left -= n


def manifest_for(files: dict[str, Path], mirror: Path, out: Path) -> None:
    entries = []
    for name, path in files.items():
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(8 * MIB):
                h.update(chunk)
        entries.append({"path": name, "sha256": h.hexdigest(), "size": path.stat().st_size})
    doc = {"apiVersion": "weightgate.dev/v1", "kind": "DeploymentManifest", "mirror_base": str(mirror),
           "artifacts": [{"id": "bench", "class": "model", "files": entries, "mirror": ".",
                          "source": {"registry": "internal", "uri": "https://models.example.com/bench"}}]}
    out.write_text(json.dumps(doc))


def big_manifest(n: int, out: Path) -> None:
    artifacts = [{
        "id": f"model-{i}", "class": "model", "owner": "ml@example.com", "intended_use": "bench",
        "source": {"registry": "huggingface", "uri": f"hf://org/model-{i}", "revision": f"{i:040x}"},
        "mirror": f"m/{i}", "files": [{"path": "model.safetensors", "sha256": f"{i:064x}", "size": 1000 + i}],
        "license": {"spdx": "Apache-2.0"}, "last_validated": "2026-11-01",
    } for i in range(n)]
    lines = ["apiVersion: weightgate.dev/v1", "kind: DeploymentManifest", "artifacts:"]
    lines += ["  - " + json.dumps(a) for a in artifacts]  # JSON flow style is valid YAML
    out.write_text("\n".join(lines) + "\n")


def example_with_records(work: Path, n: int) -> tuple[Path, Path]:
    """Two copies of the bundled example: as it is, and with `n` more signed security approvals of
    tiny-chat-support in its approvals store (signed with the example's appsec key, derived from its public seed
    by examples/make_example.py)."""
    import datetime
    import importlib.util

    from securesystemslib.signer import CryptoSigner

    from weightgate.evidence.dsse import sign_statement
    from weightgate.evidence.reviews import Decision, Review, review_statement

    spec = importlib.util.spec_from_file_location("make_example", REPO / "examples" / "make_example.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    plain, heavy = work / "example-plain", work / "example-records"
    for copy in (plain, heavy):
        shutil.copytree(REPO / "examples", copy)
    digest = example.digest_of(example.FILES["tiny-chat-support"]).removeprefix("sha256:")
    signer = CryptoSigner(example._example_key("appsec@example.com"))
    start = datetime.datetime(2026, 10, 21, 9, 30, tzinfo=datetime.timezone.utc)
    lines = []
    for i in range(n):
        review = Review("security", Decision.APPROVED, "appsec@example.com", start + datetime.timedelta(seconds=i + 1),
                        f"SEC-{i}")
        lines.append(json.dumps(sign_statement(review_statement("tiny-chat-support", digest, review), signer)) + "\n")
    with (heavy / "approvals" / f"{digest}.jsonl").open("a") as store:
        store.writelines(lines)
    return plain, heavy


def signed_deployments(folder: Path, artifacts: int, records: int) -> Path:
    """`records` signed deployment records over `artifacts` digests, as `admit --record-to` leaves them (one
    JSON Lines file here); returns the public key that verifies them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.signer import CryptoSigner

    from weightgate.evidence.deployment import DEPLOYMENT_PREDICATE_TYPE
    from weightgate.evidence.dsse import STATEMENT_TYPE, sign_statement

    folder.mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    public = folder.parent / "deploy.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    signer = CryptoSigner(key)
    lines = []
    for i in range(records):
        n = i % artifacts
        statement = {"_type": STATEMENT_TYPE, "subject": [{"name": f"model-{n}", "digest": {"sha256": f"{n:064x}"}}],
                     "predicateType": DEPLOYMENT_PREDICATE_TYPE,
                     "predicate": {"service": f"svc-{n}", "environment": ("staging", "production")[i % 2],
                                   "host": f"pod-{i}", "time": f"2026-{1 + i % 12:02d}-01T00:00:00Z"}}
        lines.append(json.dumps(sign_statement(statement, signer)) + "\n")
    (folder / "deployments.intoto.jsonl").write_text("".join(lines))
    return public


def full_osv_snapshot(path: Path, records: int = 40_000, packages: int = 16_000) -> list[str]:
    """A synthetic OSV zip at least the size of osv.dev's PyPI export (40,000 records over 16,000 packages, each
    with an ECOSYSTEM range and its explicit affected versions), plus the real fixture records; returns the
    package names."""
    import zipfile

    names = [f"pkg-{i:05d}" for i in range(packages)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(records):
            name = names[i % packages]
            fixed = f"{1 + i % 5}.{i % 13}.0"
            record = {
                "id": f"PYSEC-2099-{i}", "modified": "2099-01-01T00:00:00Z", "published": "2098-12-01T00:00:00Z",
                "aliases": [f"CVE-2099-{i}", f"GHSA-bench-{i:04x}"], "details": "synthetic advisory " * 50,
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                "affected": [{"package": {"ecosystem": "PyPI", "name": name, "purl": f"pkg:pypi/{name}"},
                              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                              "versions": [f"{m}.{n}.0" for m in range(1 + i % 5) for n in range(13)][:40]}],
                "references": [{"type": "WEB", "url": f"https://example.com/{i}"}],
            }
            archive.writestr(f"PYSEC-2099-{i}.json", json.dumps(record))
        for fixture in sorted((REPO / "tests" / "assets" / "osv").glob("*.json")):
            archive.writestr(fixture.name, fixture.read_bytes())
    return names


def runtime_lock_bench(work: Path, repeat: int) -> list[Result]:
    """Match a 300-package uv.lock against a full-size snapshot, once it is indexed: the cost over the same check
    without the lock must stay under a second."""
    folder = work / "runtime"
    (folder / "mirror" / "m").mkdir(parents=True)
    weights = folder / "mirror" / "m" / "model.safetensors"
    safetensors_file(weights, 4096)
    names = full_osv_snapshot(folder / "all.zip")
    lock = "version = 1\n" + "".join(f'[[package]]\nname = "{name}"\nversion = "1.{i % 13}.0"\n'
                                      for i, name in enumerate([*names[:299], "torch"]))
    (folder / "uv.lock").write_text(lock)
    t_index, _, _ = run_timed([*WEIGHTGATE, "advisories", "update", "--from", str(folder / "all.zip"), "--to",
                               str(folder / "osv.zip")])
    sha = hashlib.sha256((folder / "osv.zip").read_bytes()).hexdigest()
    (folder / "policy.yaml").write_text(json.dumps({"apiVersion": "weightgate.dev/v1", "kind": "Policy",
                                                    "advisories": {"snapshot": "osv.zip", "sha256": sha}}))
    manifests = {}
    for label, runtime in (("lock", {"lock": "uv.lock", "sha256": hashlib.sha256(lock.encode()).hexdigest()}),
                           ("plain", None)):
        service = {"name": "svc", "environment": "staging", "artifacts": ["m"], **({"runtime": runtime} if runtime
                                                                                   else {})}
        manifest_for({"model.safetensors": weights}, folder / "mirror" / "m", folder / f"{label}.json")
        doc = json.loads((folder / f"{label}.json").read_text())
        doc["services"] = [service]
        (folder / f"{label}.json").write_text(json.dumps(doc))
        manifests[label] = [*WEIGHTGATE, "check", f"{label}.json", "--policy", "policy.yaml", "-q", "--fail-on",
                            "never"]
    t_lock, rss = median_run(manifests["lock"], max(repeat, 5), cwd=folder)
    t_plain, _ = median_run(manifests["plain"], max(repeat, 5), cwd=folder)
    return [
        Result("index a full-size OSV PyPI snapshot (40,000 records), once", t_index, "wall", None, None, 0.0,
               "informative", True),
        Result("check with a 300-package lock against it", t_lock, "same check, no lock", t_plain, t_lock - t_plain,
               rss, "<= +1.0 s", t_lock - t_plain <= 1.0),
    ]


# --- scenarios ---------------------------------------------------------------------------------------------
def openssl(paths: list[Path]) -> list[str]:
    return ["openssl", "dgst", "-sha256", *map(str, paths)]


def bench(work: Path, repeat: int, quick: bool) -> list[Result]:
    scale = 1 / 16 if quick else 1
    mirror = work / "mirror"
    mirror.mkdir()
    one = mirror / "one.safetensors"
    safetensors_file(one, int(GIB * scale))
    multi = {"a.safetensors": int(1.5 * GIB * scale), "b.safetensors": int(1 * GIB * scale),
             "c.gguf": int(1 * GIB * scale), "d.onnx": int(0.6 * GIB * scale)}
    writers = {".safetensors": safetensors_file, ".gguf": gguf_file, ".onnx": onnx_file}
    for name, size in multi.items():
        writers[Path(name).suffix](mirror / name, size)
    multi_paths = {name: mirror / name for name in multi}
    multi_manifest = work / "multi.json"
    manifest_for(multi_paths, mirror, multi_manifest)
    one_manifest = work / "one.json"
    manifest_for({"one.safetensors": one}, mirror, one_manifest)
    results = []

    for workers, target in (("1", 1.15), (None, 0.65)):
        cmd = [*WEIGHTGATE, "check", str(multi_manifest), "-q", "--fail-on", "never"]
        cmd += ["--workers", workers] if workers else []
        t, ref_multi, rss = paired_runs(cmd, openssl(list(multi_paths.values())), repeat)
        label = f"check multi-file mirror ({sum(multi.values()) / GIB:.2f} GiB), " + (
            "1 worker" if workers else "default workers")
        results.append(Result(label, t, "openssl sequential", ref_multi, t / ref_multi, rss,
                              f"<= {target}x", t / ref_multi <= target))

    scan_cmd = [*WEIGHTGATE, "scan", str(one), "-q", "--fail-on", "never"]
    if run_timed([*WEIGHTGATE, "scan", "--help"])[2] != 0:
        scan_cmd = [*WEIGHTGATE, "check", str(one_manifest), "-q", "--fail-on", "never", "--workers", "1"]
    t, ref_one, rss = paired_runs(scan_cmd, openssl([one]), repeat)
    results.append(Result(f"{scan_cmd[3]} 1 GiB safetensors" if not quick else f"{scan_cmd[3]} safetensors",
                          t, "openssl", ref_one, t / ref_one, rss, "<= 1.2x", t / ref_one <= 1.2))
    peak = max(r.peak_rss_mib for r in results)
    results.append(Result("peak RSS of the runs above", 0.0, "-", None, None, peak, "<= 150 MiB", peak <= 150))

    t, rss = median_run([*WEIGHTGATE, "check", "examples/deployment.yaml", "--policy", "examples/policy.yaml",
                         "--offline", "-q", "--fail-on", "never"], max(repeat, 5), cwd=REPO)
    results.append(Result("check --offline of the example", t, "wall", None, None, rss, "<= 0.3 s", t <= 0.3))

    plain, heavy = example_with_records(work, 1000)
    check = [*WEIGHTGATE, "check", "deployment.yaml", "--policy", "policy.yaml", "-q", "--fail-on", "never"]
    t_heavy, rss = median_run(check, max(repeat, 5), cwd=heavy)
    t_plain, _ = median_run(check, max(repeat, 5), cwd=plain)
    results.append(Result("check of the example + 1,000 signed records", t_heavy, "the example", t_plain,
                          t_heavy - t_plain, rss, "<= +1.0 s", t_heavy - t_plain <= 1.0))

    public = signed_deployments(work / "records", 1000, 20_000)
    t, rss = median_run([*WEIGHTGATE, "trail", "--records", str(work / "records"), "--key", str(public),
                         "--environment", "production", "--format", "json"], repeat)
    results.append(Result("trail of 1,000 artifacts from 20,000 signed records", t, "wall", None, None, rss,
                          "<= 2 s", t <= 2))
    results += runtime_lock_bench(work, repeat)

    times = {}
    for n in (10_000, 20_000):
        path = work / f"big-{n}.yaml"
        big_manifest(n, path)
        times[n], rss = median_run([*WEIGHTGATE, "check", str(path), "--offline", "-q", "--fail-on", "never"],
                                   repeat)
    results.append(Result("check --offline, 10,000 artifacts", times[10_000], "wall", None, None, rss, "<= 5 s",
                          times[10_000] <= 5))
    growth = times[20_000] / times[10_000]
    results.append(Result("20,000 vs 10,000 artifacts", times[20_000], "10,000 artifacts", times[10_000], growth,
                          rss, "<= 2.2x", growth <= 2.2))
    return results


def weightgate_package() -> str:
    out = subprocess.run([sys.executable, "-c", "import weightgate, os; print(os.path.dirname(weightgate.__file__))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _ratio(result: Result) -> str:
    if result.ratio is None:
        return ""
    return f"+{result.ratio:.2f} s" if result.target.startswith("<= +") else f"{result.ratio:.2f}x"


def table(results: list[Result]) -> str:
    rows = ["| scenario | median s | reference | ref s | ratio | peak RSS MiB | target | |", "|---" * 8 + "|"]
    for r in results:
        rows.append(f"| {r.scenario} | {r.seconds:.3f} | {r.reference} | "
                    f"{'' if r.reference_seconds is None else f'{r.reference_seconds:.3f}'} | "
                    f"{_ratio(r)} | {r.peak_rss_mib:.0f} | {r.target} | "
                    f"{'PASS' if r.passed else 'FAIL'} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="where to write the generated inputs (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="1/16 of the sizes, for a smoke run")
    args = ap.parse_args()
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is needed as the reference")
    # Bytecode as a wheel install leaves it (pip compiles on install): an editable install under
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(weightgate_package()))], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="wg-bench-", dir=args.workdir))
    try:
        results = bench(work, args.repeat, args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps([asdict(r) for r in results], indent=2) if args.json else table(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
