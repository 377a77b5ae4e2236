"""Mirror locations are resolved with the folders remembered (issue 18); the answer must be realpath's for any
path: symlinked folders and leaves, `.` and `..` after a symlink, names that do not exist, loops."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from weightgate.mirror import _location, _RealPaths

PARTS = ["a", "b", "up", "abs", "loop", "leaf", "missing", ".", ".."]


def _tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True, exist_ok=True)
    (root / "elsewhere" / "b").mkdir(parents=True, exist_ok=True)
    for name, target in [("a/up", ".."), ("a/abs", str(root / "elsewhere")), ("a/b/up", "../.."),
                         ("loop", "loop"), ("a/leaf", "b"), ("elsewhere/up", "../a")]:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(target)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PARTS), min_size=1, max_size=7))
def test_the_remembered_resolution_is_realpaths(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "realpaths"
    _tree(root)
    real = _RealPaths()
    path = os.path.join(str(root), *parts)
    assert real(path) == os.path.realpath(path)
    again = os.path.join(str(root), *parts[:-1], "a")  # a sibling, through the remembered folders
    assert real(again) == os.path.realpath(again)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*PARTS, "", "/", "//", "a/", "./b"]), min_size=1, max_size=5))
def test_a_relative_mirror_resolves_as_the_joined_path_does(tmp_path_factory, parts):
    """The location of `<base>/<mirror>` is the real path of pathlib's join, whatever slashes and dots it holds."""
    root = tmp_path_factory.getbasetemp() / "realpaths"
    _tree(root)
    text = "/".join(parts)
    location = _location(text, root / "a", _RealPaths())
    expected = Path(os.path.realpath(str(root / "a" / text)))
    assert location.local_path == expected
    assert location.uri == expected.as_uri()
    assert location.host == ""
