"""Mirror locations are resolved with the folders remembered (issue 18); the answer must be realpath's for any
path: symlinked folders and leaves, `.` and `..` after a symlink, names that do not exist, loops."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from weightgate.mirror import _RealPaths

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
