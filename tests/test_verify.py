"""The verify pass turns every failure to open or read a file into facts, never an exception."""

from weightgate.facts import FileStatus
from weightgate.manifest import PinnedFile
from weightgate.verify import verify_file


class _RaisingMirror:
    uri = "custom://mirror"

    def uri_of(self, path: str) -> str:
        return f"{self.uri}/{path}"

    def open(self, path: str):
        raise PermissionError(13, "Permission denied")


def test_a_plain_os_error_from_a_mirror_is_an_unreadable_file():
    facts = verify_file(_RaisingMirror(), PinnedFile("m.safetensors", "0" * 64, 10, None, ()))
    assert facts.status is FileStatus.UNREADABLE
    assert "Permission denied" in facts.reason
