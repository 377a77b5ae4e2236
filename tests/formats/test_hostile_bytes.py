"""Inspectors never raise on hostile bytes: every sample, truncated and mutated, yields an Inspection."""

from __future__ import annotations

import random

import pytest

from weightgate.formats.base import Inspection

from . import samples
from .feeding import inspect_bytes
from .test_sniff import CASES

MUTATIONS_PER_SAMPLE = 60


def _mutants(data: bytes, seed: int):
    rng = random.Random(seed)
    for _ in range(MUTATIONS_PER_SAMPLE):
        mutant = bytearray(data)
        kind = rng.randrange(3)
        if kind == 0 and mutant:
            del mutant[rng.randrange(len(mutant)) :]  # truncate
        elif kind == 1 and mutant:
            for _ in range(rng.randrange(1, 8)):  # flip bytes, biased to the start where headers live
                mutant[min(int(rng.expovariate(1 / 64)), len(mutant) - 1)] = rng.randrange(256)
        else:
            mutant[rng.randrange(len(mutant) + 1) :] = rng.randbytes(rng.randrange(64))  # replace the tail
        yield bytes(mutant)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_mutated_samples_never_raise(case) -> None:
    for index, mutant in enumerate(_mutants(case.make(), seed=index_seed(case.name))):
        result = inspect_bytes(mutant, chunking=(1, 3, 4096))
        assert isinstance(result, Inspection), index


@pytest.mark.parametrize("data", [b"PK\x05\x06", b"PK\x05\x06" * 3, b"PK\x03\x04", b"GGUF\x03\x00\x00\x00",
                                  b"\x93NUMPY", b"\x02\x00\x00\x00\x00\x00\x00\x00{}", samples.torch_tar()[:512]])
def test_short_inputs_never_raise(data: bytes) -> None:
    assert isinstance(inspect_bytes(data), Inspection)


def index_seed(name: str) -> int:
    return sum(name.encode())
