"""Small files beside an artifact are read whole or not at all, within their limit."""

from weightgate.evidence.fetch import read_small
from weightgate.facts import FileStatus
from weightgate.mirror.local import LocalMirror


def test_read_small_is_bounded(tmp_path):
    (tmp_path / "small").write_bytes(b"x" * 10)
    (tmp_path / "large").write_bytes(b"x" * 11)
    mirror = LocalMirror(tmp_path)
    small = read_small(mirror, "small", 10)
    assert small.status is FileStatus.VERIFIED and small.data == b"x" * 10 and len(small.sha256) == 64
    large = read_small(mirror, "large", 10)
    assert large.data is None and "larger than 10" in large.reason
    missing = read_small(mirror, "nope", 10)
    assert missing.missing and missing.data is None
    assert read_small(mirror, "../escape", 10).status is FileStatus.ESCAPED
