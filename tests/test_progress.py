"""Progress output: one line per verified file in logs, bars only on a terminal, nothing when quiet."""

import io

from weightgate.gate import CheckOptions, run_check
from weightgate.progress import BarProgress, LineProgress, PeriodicProgress


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_periodic_lines_for_ten_thousand_files():
    """A CI log gets a line per step of the bytes (or per interval), never one per file."""
    stream, clock = io.StringIO(), FakeClock()
    progress = PeriodicProgress(stream, interval=10, step_percent=10, clock=clock)
    progress.begin(10_000 * 100)
    for _ in range(10_000):
        file = progress.file_started("a/x.bin", 100)
        file.advance(100)
        file.done(None)  # type: ignore[arg-type]
    progress.close()
    lines = stream.getvalue().splitlines()
    assert 9 <= len(lines) <= 11
    assert lines[-1] == "weightgate: verified 10000 file(s), 976.6 KiB of 976.6 KiB (100%)"


def test_periodic_line_after_the_interval_without_a_step():
    stream, clock = io.StringIO(), FakeClock()
    progress = PeriodicProgress(stream, interval=10, step_percent=50, clock=clock)
    progress.begin(1000)
    file = progress.file_started("a/x.bin", 1000)
    file.advance(10)
    assert stream.getvalue() == ""  # near miss: neither the step nor the interval reached
    clock.now = 11
    file.advance(10)
    assert stream.getvalue() == "weightgate: verified 0 file(s), 20 B of 1000 B (2%)\n"


def test_cli_logs_lines_per_file_only_with_verbose(ws, capsys):
    from weightgate.cli import main

    files = {f"f{i}.json": b"{}" for i in range(30)}
    path = ws.write_manifest([ws.artifact("a", files=files)])
    main(["check", str(path), "--as-of", "2026-11-26"])
    quiet_log = capsys.readouterr().err.splitlines()
    assert 1 <= len(quiet_log) <= 12 and all(line.startswith("weightgate: verified") for line in quiet_log)
    main(["-v", "check", str(path), "--as-of", "2026-11-26"])
    verbose_log = [line for line in capsys.readouterr().err.splitlines() if "sha256" in line]
    assert len(verbose_log) == 30
