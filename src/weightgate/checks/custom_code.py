"""WG530: artifacts that only load by running their own Python (Hugging Face `trust_remote_code`).

transformers and diffusers import `*.py` files from a model repository when its configs say so: `auto_map`
names the module and class for each Auto class (possibly in another repository: `org/repo--module.Class`),
and `custom_pipelines` does the same for pipelines. Any Python file shipped with the weights is code that
a loader may run. Such an artifact fails until its exact digest is waived in the policy, so a reviewed
version passes and any change to any byte fails again (waivers bind to the artifact digest in gate.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.facts import FileFacts
from weightgate.findings import Finding, Location
from weightgate.formats.base import CUSTOM_CODE_DETAIL

PYTHON_SUFFIXES = (".py",)
MAX_LISTED = 10


@dataclass(frozen=True)
class CustomCode:
    """Why an artifact needs custom code: the Python files and the config keys that load code."""

    python_files: tuple[str, ...]
    config_keys: tuple[tuple[str, str, str], ...]  # (file, key, what it references)

    @property
    def first_path(self) -> str:
        return (self.python_files or tuple(path for path, _, _ in self.config_keys))[0]

    def message(self) -> str:
        parts = []
        if self.python_files:
            shown = ", ".join(self.python_files[:MAX_LISTED])
            more = f" and {len(self.python_files) - MAX_LISTED} more" if len(self.python_files) > MAX_LISTED else ""
            parts.append(f"Python files {shown}{more}")
        parts += [f"`{key}` in {path}" for path, key, _ in self.config_keys[:MAX_LISTED]]
        remote = any("--" in reference for _, _, reference in self.config_keys)
        return ("needs custom loading code (trust_remote_code): " + "; ".join(parts)
                + ("; it refers to code in another repository" if remote else ""))

    def evidence(self) -> tuple[tuple[str, str], ...]:
        evidence = [("python_files", ",".join(self.python_files))] if self.python_files else []
        evidence += [(f"{path}:{key}", reference) for path, key, reference in self.config_keys[:MAX_LISTED]]
        return tuple(evidence)


def find_custom_code(paths: Iterable[str], facts: Iterable[FileFacts]) -> CustomCode | None:
    """Custom code in one artifact: Python files among `paths`, custom-code keys in the files' facts."""
    python = tuple(sorted(p for p in paths if p.lower().endswith(PYTHON_SUFFIXES)))
    keys = tuple(
        (f.path, key, f.details.get(key, ""))
        for f in sorted(facts, key=lambda f: f.path)
        for key in f.details.get(CUSTOM_CODE_DETAIL, "").split(",") if key
    )
    return CustomCode(python, keys) if python or keys else None


def custom_loading_code(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        facts = ctx.facts.get(artifact.id)
        verified: Sequence[FileFacts] = [f for f in facts.files if f.verified] if facts else ()
        found = find_custom_code((f.path for f in artifact.files), verified)
        if found is None:
            continue
        pinned = next((f for f in artifact.files if f.path == found.first_path), None)
        where = ctx.manifest.location(pinned.key) if pinned is not None else ctx.at(artifact, "files")
        yield custom_code_finding(found, where, artifact.id)


def custom_code_finding(found: CustomCode, where: Location, artifact_id: str) -> Finding:
    """The WG530 finding for an artifact (shared with `scan`, which locates it at the scanned file)."""
    return Finding(rules.CUSTOM_LOADING_CODE, f"{artifact_id}: {found.message()}", where, artifact_id,
                   found.first_path, evidence=found.evidence())


CHECKS = (custom_loading_code,)
