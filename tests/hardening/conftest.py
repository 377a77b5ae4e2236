"""Hardening tests: hypothesis profiles (profiles.py, also loaded by tests/conftest.py) and memory tracing."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import settings

from hardening import profiles  # noqa: F401  (registers the `ci` and `long` profiles when run on its own)


@pytest.fixture(autouse=True)
def _trace_memory(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fuzz tests check each case's allocation peak (fuzzing.bounded): trace for the whole test, once. The
    `long` profile samples cases instead (see fuzzing.bounded)."""
    if (request.node.get_closest_marker("fuzz") is None or tracemalloc.is_tracing()
            or settings.get_current_profile_name() == "long"):
        yield
        return
    tracemalloc.start(1)
    try:
        yield
    finally:
        tracemalloc.stop()
