"""Two runs on the same inputs write byte-identical SARIF and ML-BOM, except for the documented time fields
(SARIF `invocations[].endTimeUtc`, BOM `metadata.timestamp` and the `serialNumber` derived from the BOM's
content, timestamp included), which `--reproducible` and SOURCE_DATE_EPOCH fix as well. A fixed stamp never
changes what is judged: dates are judged as of --as-of or today."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR

AS_OF = "2026-11-26"
# The documented per-run fields, each replaced by a placeholder before comparing.
TIME_FIELDS = [
    (re.compile(r'"endTimeUtc": "[^"]*"'), '"endTimeUtc": "<time>"'),
    (re.compile(r'"timestamp": "[^"]*"'), '"timestamp": "<time>"'),
    (re.compile(r'"serialNumber": "urn:uuid:[0-9a-f-]{36}"'), '"serialNumber": "<serial>"'),
]


def _check(example: Path, out: Path, *extra: str) -> tuple[bytes, bytes]:
    out.mkdir()
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--sarif", str(out / "r.sarif"), "--bom", str(out / "r.bom.json"), "-q", *extra])
    assert code == EXIT_FINDINGS  # the example has planted problems
    return (out / "r.sarif").read_bytes(), (out / "r.bom.json").read_bytes()


def _without_time(data: bytes) -> str:
    text = data.decode()
    for pattern, placeholder in TIME_FIELDS:
        text = pattern.sub(placeholder, text)
    return text


def test_two_runs_differ_only_in_the_documented_time_fields(example: Path, tmp_path: Path) -> None:
    first = _check(example, tmp_path / "a", "--as-of", AS_OF, "--workers", "1")
    second = _check(example, tmp_path / "b", "--as-of", AS_OF, "--workers", "4")
    for one, two in zip(first, second):
        assert _without_time(one) == _without_time(two)


@pytest.mark.parametrize("extra", [["--as-of", AS_OF], ["--as-of", AS_OF, "--workers", "1"]])
def test_reproducible_runs_are_byte_identical(example: Path, tmp_path: Path, extra: list[str]) -> None:
    first = _check(example, tmp_path / "a", "--reproducible", *extra)
    second = _check(example, tmp_path / "b", "--reproducible", "--as-of", AS_OF)
    assert first == second
    sarif = json.loads(first[0])
    assert sarif["runs"][0]["invocations"][0]["endTimeUtc"] == f"{AS_OF}T00:00:00Z"  # the day judged


def test_source_date_epoch_fixes_the_stamp(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = _check(example, tmp_path / "a", "--as-of", AS_OF)
    second = _check(example, tmp_path / "b", "--as-of", AS_OF)
    assert first == second
    assert json.loads(first[1])["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")


def test_an_old_source_date_epoch_does_not_change_what_is_judged(example: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Approvals, waivers and re-validation are judged as of today: a stamp from 1970 must not make every
    approval 'from the future' nor revive expired waivers."""
    def findings(out: str) -> list[tuple[str, str, str]]:
        path = tmp_path / out
        main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
              "--json", str(path), "-q"])
        return [(f["rule"], f["artifact"], f["message"]) for f in json.loads(path.read_text())["findings"]]

    normal = findings("normal.json")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert findings("epoch.json") == normal


@pytest.mark.parametrize("value", ["yesterday", "-1", "1.5", "99999999999999999999"])
def test_a_malformed_source_date_epoch_is_a_usage_error(example: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, value: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    code = main(["check", str(example / "deployment.yaml"), "--offline", "-q"])
    assert code == EXIT_INPUT_ERROR
    assert "SOURCE_DATE_EPOCH" in capsys.readouterr().err


def test_scan_reports_are_reproducible(example: Path, tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        sarif, bom = tmp_path / f"{run}.sarif", tmp_path / f"{run}.bom.json"
        main(["scan", str(example / "mirror"), "--reproducible", "--sarif", str(sarif), "--bom", str(bom), "-q",
              "--source-root", str(example)])
        outputs.append((sarif.read_bytes(), bom.read_bytes()))
    assert outputs[0] == outputs[1]
