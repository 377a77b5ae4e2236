"""Progress output: one line per verified file in logs, bars only on a terminal, nothing when quiet."""

import io

from weightgate.gate import CheckOptions, run_check
from weightgate.progress import BarProgress, LineProgress


def test_one_line_per_file_for_logs(ws):
    path = ws.write_manifest([ws.artifact("a", files={"m.safetensors": b"x" * 10, "config.json": b"{}"})])
    stream = io.StringIO()
    run_check(CheckOptions(manifest=path, progress=LineProgress(stream), source_root=ws.root))
    lines = stream.getvalue().splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == ["a/config.json", "a/m.safetensors"]
    assert all("sha256" in line for line in lines)


def test_bars_count_every_byte(ws):
    data = b"{}" + b" " * 3_000_000
    path = ws.write_manifest([ws.artifact("a", files={"config.json": data})])
    stream = io.StringIO()
    progress = BarProgress(stream)
    run_check(CheckOptions(manifest=path, progress=progress, source_root=ws.root))
    assert progress.overall.n == len(data) == progress.overall.total


def test_cli_quiet_prints_nothing(ws, capsys):
    from weightgate.cli import main

    path = ws.write_manifest([ws.artifact("a")])
    main(["check", str(path), "-q", "--as-of", "2026-11-26"])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
