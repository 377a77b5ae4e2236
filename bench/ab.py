#!/usr/bin/env python3
"""Paired comparison of this checkout with another revision, on the same machine in the same minutes.

    python bench/ab.py REV [--repeat N] [--only SCENARIO ...] [--save RECORD]
    python bench/ab.py --render RECORD

A shared machine's pace drifts between hours by more than most changes move a row, so a change is judged by
running both revisions alternately (A B A B ..., after a warm-up of each) on the same generated inputs: the
start-up rows, the bundled example, a trail of 20,000 signed records, an offline check of 10,000 artifacts and
1 GiB scans. REV is checked out into a temporary git worktree and both trees are byte-compiled; each command
runs with PYTHONPATH set to one tree's src. Prints median CPU and wall seconds of each and the change.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # the bench's own input generators and launcher

REPO = run.REPO
QUIET = ["-q", "--fail-on", "never"]


def scenarios(work: Path) -> dict[str, Callable[[], tuple[list[str], Path | None]]]:
    """Name -> a function that writes the scenario's inputs and returns (weightgate arguments, cwd)."""

    def tiny() -> tuple[list[str], Path | None]:
        path = work / "config.json"
        path.write_text('{"architectures": ["LlamaForCausalLM"]}\n')
        return ["scan", str(path), *QUIET], None

    def small() -> tuple[list[str], Path | None]:
        run.small_files(work / "small", 2000)
        return ["scan", str(work / "small"), *QUIET], None

    def offline_example() -> tuple[list[str], Path | None]:
        return ["check", "examples/deployment.yaml", "--policy", "examples/policy.yaml", "--offline", *QUIET], REPO

    def full_example() -> tuple[list[str], Path | None]:
        plain, _heavy = run.example_with_records(work / "example", 1000)
        return ["check", "deployment.yaml", "--policy", "policy.yaml", *QUIET], plain

    def trail() -> tuple[list[str], Path | None]:
        public = run.signed_deployments(work / "records", 1000, 20_000)
        return ["trail", "--records", str(work / "records"), "--key", str(public), "--environment", "production",
                "--format", "json"], None

    def offline_10k() -> tuple[list[str], Path | None]:
        run.big_manifest(10_000, work / "big.yaml")
        return ["check", str(work / "big.yaml"), "--offline", *QUIET], None

    def scan_safetensors() -> tuple[list[str], Path | None]:
        run.safetensors_file(work / "one.safetensors", run.GIB)
        return ["scan", str(work / "one.safetensors"), *QUIET, "--workers", "1"], None

    def scan_zip() -> tuple[list[str], Path | None]:
        run.torch_zip_file(work / "model.pt", run.GIB)
        return ["scan", str(work / "model.pt"), *QUIET], None

    return {"start-up (scan of one tiny file)": tiny, "scan of 2,000 small files": small,
            "check --offline of the example": offline_example, "full check of the example": full_example,
            "trail of 20,000 signed records": trail, "check --offline, 10,000 artifacts": offline_10k,
            "scan 1 GiB safetensors, 1 worker": scan_safetensors, "scan 1 GiB PyTorch zip": scan_zip}


def paired(args: list[str], cwd: Path | None, trees: tuple[Path, Path], repeat: int) -> tuple[run.Run, run.Run]:
    """Medians for the baseline tree and this one (the bench's paired runs, one tree per PYTHONPATH)."""
    old_env, new_env = (dict(os.environ, PYTHONPATH=str(tree / "src")) for tree in trees)
    cmd = [*run.WEIGHTGATE, *args]
    new, old = run.paired_runs(cmd, cmd, repeat, cwd, env=new_env, reference_env=old_env)
    return old, new


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", nargs="?", help="the revision to compare with (a commit, tag or branch)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", action="append", help="run only scenarios whose name contains this text")
    ap.add_argument("--save", type=Path, help="also write the comparison's record as JSON to this file")
    ap.add_argument("--render", type=Path, metavar="RECORD",
                    help="print the report of a saved record (--save) as the run printed it; runs nothing")
    args = ap.parse_args()
    if args.render:
        print(report(json.loads(args.render.read_text())))
        return 0
    if not args.rev:
        ap.error("give the revision to compare with")
    work = Path(tempfile.mkdtemp(prefix="wg-ab-"))
    baseline = work / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(baseline), args.rev], check=True)
    try:
        for tree in (baseline, REPO):
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "src")], check=True,
                           stdout=subprocess.DEVNULL)
        rev = subprocess.run(["git", "-C", str(baseline), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        head = run.revision()  # HEAD+ when this tree has uncommitted changes: the columns must not read the same
        started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
        record: dict[str, Any] = {"date": started, "machine": run.machine(), "repeat": args.repeat,
                                  "pace_seconds": round(run.pace(), 3), "baseline": rev, "this": head, "rows": []}
        print(report(record), flush=True)
        for name, make in scenarios(work).items():
            if args.only and not any(part in name for part in args.only):
                continue
            cmd, cwd = make()
            old, new = paired(cmd, cwd, (baseline, REPO), args.repeat)
            row = {"scenario": name, "baseline_cpu_seconds": old.cpu_seconds, "this_cpu_seconds": new.cpu_seconds,
                   "baseline_seconds": old.seconds, "this_seconds": new.seconds}
            record["rows"].append(row)
            print(_row(row), flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    if args.save:
        args.save.write_text(json.dumps(record, indent=2) + "\n")
    return 0


def report(record: dict[str, Any]) -> str:
    """What a comparison prints: date, machine, repeats, pace and the two revisions, then a row per scenario.
    The README's paired table is this text rendered from a saved record (tests/test_bench_record.py)."""
    rev, head = record["baseline"], record["this"]
    lines = [f"{record['date']} on {record['machine']}; --repeat {record['repeat']}; pace "
             f"{record['pace_seconds']:.3f} s; baseline {rev}, this {head}"
             f"{' (HEAD with uncommitted changes)' if head.endswith('+') else ''}", "",
             f"| scenario | {rev} CPU s | {head} CPU s | change | {rev} wall s | {head} wall s |",
             "|---|---|---|---|---|---|"]
    return "\n".join(lines + [_row(row) for row in record["rows"]])


def _row(row: dict[str, Any]) -> str:
    change = row["this_cpu_seconds"] / row["baseline_cpu_seconds"] - 1
    return (f"| {row['scenario']} | {row['baseline_cpu_seconds']:.3f} | {row['this_cpu_seconds']:.3f} | "
            f"{change:+.0%} | {row['baseline_seconds']:.3f} | {row['this_seconds']:.3f} |")

if __name__ == "__main__":
    sys.exit(main())
