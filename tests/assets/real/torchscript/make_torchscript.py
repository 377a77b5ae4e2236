"""Regenerate the TorchScript archives in this folder with torch.jit.save (needs torch; run by ../fetch.py).

The archives are small on purpose: a scripted module whose attributes are int, float and bool lists and a
dict (so data.pkl names torch.jit._pickle.build_intlist and its siblings) and a traced Sequential. Zip
timestamps make the bytes differ per run, so fetch.py records the digests of the files as committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


class ListHolder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.sizes: list[int] = [1, 2, 3]
        self.scales: list[float] = [1.0, 2.0]
        self.flags: list[bool] = [True, False]
        self.names: dict[str, int] = {"a": 1}
        self.tensors: list[torch.Tensor] = [torch.ones(2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.sizes[0] * self.scales[0]


def main(folder: Path) -> None:
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(ListHolder()), str(folder / "scripted_lists.pt"))
    traced = torch.jit.trace(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()), torch.zeros(1, 4))
    torch.jit.save(traced, str(folder / "traced_sequential.pt"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
