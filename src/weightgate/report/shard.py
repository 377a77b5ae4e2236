"""What a `check --shard` run prints: the share it read and anything that stops a file from counting as verified.
Findings are judged by `weightgate merge`, so nothing here is a verdict."""

from __future__ import annotations

from pathlib import Path

from weightgate.shards import ShardFacts
from weightgate.textsafety import shown, shown_lines


def shard_summary(facts: ShardFacts, written_to: Path) -> str:
    files = list(facts.files.items())
    read = sum(f.size for _, f in files if f.verified)
    lines = [f"weightgate shard {facts.spec}: {len(files)} file(s) of {len({a for (a, _), _ in files})} "
             f"artifact(s), {read:,} bytes read"]
    for (artifact_id, _), file in sorted(files, key=lambda item: item[0]):
        if not file.matches_pin:
            why = f" ({file.reason})" if file.reason else ""
            lines.append(f"  {file.shown_status}: {shown(artifact_id)}/{shown(file.path)}{shown(why)}")
    lines.append(f"file facts written to {shown(written_to)}; `weightgate merge` judges the manifest from all "
                 f"{facts.spec.count} shard(s)")
    return shown_lines("\n".join(lines) + "\n")
