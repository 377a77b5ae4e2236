"""Base-model lineage: which artifact derives from which, as a graph over the manifest.

Pure functions over the Manifest: resolve `base_models` references, find dangling references and cycles,
walk ancestors (license inheritance uses the chains), and render the graph as a text tree or a Mermaid
flowchart (`mermaid()` is what a GitHub job summary embeds).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from weightgate import refs
from weightgate.manifest import Artifact, BaseModelRef, Manifest
from weightgate.textsafety import shown, shown_lines

MAX_DEPTH = 64  # lineage deeper than this is reported as it is drawn, never recursed into further


@dataclass(frozen=True)
class BaseLink:
    """One `base_models` entry of an artifact, resolved."""

    derived: Artifact
    ref: BaseModelRef
    target: Artifact | None  # the manifest artifact it names; None for external or dangling references

    @property
    def external(self) -> bool:
        return self.ref.artifact is None

    @property
    def dangling(self) -> bool:
        return not self.external and self.target is None

    @property
    def name(self) -> str:
        """How the base is named: its artifact id, or its URI (with the revision, when given)."""
        if self.ref.artifact is not None:
            return self.ref.artifact
        uri = self.ref.uri or "?"
        return f"{uri}@{self.ref.revision}" if self.ref.revision else uri


@dataclass(frozen=True)
class Lineage:
    manifest: Manifest
    bases: dict[str, tuple[BaseLink, ...]]  # artifact id -> its base links, in manifest order

    def links(self, artifact_id: str) -> tuple[BaseLink, ...]:
        return self.bases.get(artifact_id, ())

    def derived_ids(self) -> set[str]:
        """Ids used as a base by some other artifact."""
        return {link.target.id for links in self.bases.values() for link in links if link.target is not None}


def build_lineage(manifest: Manifest) -> Lineage:
    bases: dict[str, tuple[BaseLink, ...]] = {}
    for artifact in manifest.artifacts:
        if artifact.id in bases:
            continue  # duplicate ids are WG102; the first declaration is the one lineage follows
        bases[artifact.id] = tuple(
            BaseLink(artifact, ref, manifest.artifact(ref.artifact) if ref.artifact is not None else None)
            for ref in artifact.base_models
        )
    return Lineage(manifest, bases)


def external_problems(ref: BaseModelRef) -> list[str]:
    """Why an external base reference is not pinned or carries no license; empty when it is complete."""
    problems = []
    uri = ref.uri or ""
    if ref.revision is None:
        problems.append("no `revision`")
    else:
        problems += [p.message for p in refs.source_problems(registry_of(uri), uri, ref.revision)]
    if not refs.is_artifact_digest(ref.digest):
        problems.append("no artifact `digest` (sha256:<64 hex>)" if ref.digest is None
                        else f"`digest` {ref.digest!r} is not sha256:<64 hex>")
    if not ref.license:
        problems.append("no `license`")
    return problems


def registry_of(uri: str) -> str:
    """The registry kind an external URI names, so its revision is judged by that registry's rules."""
    lowered = uri.lower()
    if lowered.startswith("hf://") or "huggingface.co/" in lowered or "hf.co/" in lowered:
        return "huggingface"
    if lowered.startswith(("models:/", "runs:/")):
        return "mlflow"
    prefixes = {"s3://": "s3", "gs://": "gcs", "oci://": "oci", "git+": "git", "az://": "azure-blob"}
    for prefix, registry in prefixes.items():
        if lowered.startswith(prefix):
            return registry
    return "git" if lowered.endswith(".git") else "http"


def cycles(lineage: Lineage) -> list[tuple[str, ...]]:
    """Each cycle once, as the ids along it starting from its smallest id (`a → b → a` is ("a", "b"))."""
    found: dict[tuple[str, ...], None] = {}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for link in lineage.links(node):
            if link.target is None:
                continue
            nxt = link.target.id
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                start = cycle.index(min(cycle))
                found[tuple(cycle[start:] + cycle[:start])] = None
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for artifact_id in lineage.bases:
        if artifact_id not in state:
            visit(artifact_id, [])
    return list(found)


def ancestor_chains(lineage: Lineage, artifact_id: str) -> Iterator[tuple[BaseLink, ...]]:
    """Every path from the artifact up through its bases, one link at a time (cycles are cut where they
    close; they are reported on their own)."""

    def walk(node: str, chain: tuple[BaseLink, ...], seen: frozenset[str]) -> Iterator[tuple[BaseLink, ...]]:
        for link in lineage.links(node):
            path = (*chain, link)
            yield path
            target = link.target
            if target is not None and target.id not in seen and len(path) < MAX_DEPTH:
                yield from walk(target.id, path, seen | {target.id})

    yield from walk(artifact_id, (), frozenset({artifact_id}))


def chain_text(artifact_id: str, chain: tuple[BaseLink, ...]) -> str:
    """`gguf → support → base`: the artifact, then each base it derives from (arrows as in the Mermaid graph)."""
    return " → ".join([artifact_id, *(link.name for link in chain)])


# --- rendering ---------------------------------------------------------------------------------------------

def _label(artifact: Artifact) -> str:
    license_text = f", {artifact.license.spdx}" if artifact.license else ""
    return f"{artifact.id} ({artifact.artifact_class}{license_text})"


def _external_label(link: BaseLink) -> str:
    state = "pinned" if not external_problems(link.ref) else "NOT pinned"
    license_text = f", {link.ref.license}" if link.ref.license else ""
    return f"{link.name} (external, {state}{license_text})"


def _roots(lineage: Lineage) -> list[str]:
    used = lineage.derived_ids()
    return [a for a in lineage.bases if a not in used]


def text_tree(lineage: Lineage) -> str:
    """Each most-derived artifact with its ancestors beneath it."""
    lines: list[str] = []
    drawn: set[str] = set()

    def draw(artifact_id: str, prefix: str, path: frozenset[str]) -> None:
        links = lineage.links(artifact_id)
        for i, link in enumerate(links):
            last = i == len(links) - 1
            branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
            target = link.target
            if link.dangling:
                lines.append(f"{prefix}{branch}{link.name} (MISSING: no such artifact in the manifest)")
            elif target is None:
                lines.append(f"{prefix}{branch}{_external_label(link)}")
            elif target.id in path or len(path) >= MAX_DEPTH:
                lines.append(f"{prefix}{branch}{target.id} (CYCLE)")
            else:
                drawn.add(target.id)
                lines.append(f"{prefix}{branch}{_label(target)}")
                draw(target.id, prefix + indent, path | {target.id})

    for root in [*_roots(lineage), *lineage.bases]:
        if root in drawn:
            continue
        drawn.add(root)
        artifact = lineage.manifest.artifact(root)
        if artifact is not None:
            lines.append(_label(artifact))
            draw(root, "", frozenset({root}))
    # Manifest text (ids, URIs, license strings) goes to a terminal: each line escaped, never a command.
    return "".join(shown_lines(shown(line)) + "\n" for line in lines)


def mermaid(manifest: Manifest) -> str:
    """The lineage as a Mermaid flowchart, bases on top, each arrow from an artifact to the base it derives
    from; without the ```mermaid fence, for the CLI and for GitHub job summaries."""
    lineage = build_lineage(manifest)
    ids: dict[str, str] = {}
    lines = ["flowchart BT"]

    def node(key: str, label: str, shape: tuple[str, str] = ('["', '"]')) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            lines.append(f"  {ids[key]}{shape[0]}{_escape(label)}{shape[1]}")
        return ids[key]

    for artifact_id, links in lineage.bases.items():
        artifact = lineage.manifest.artifact(artifact_id)
        if artifact is None:
            continue
        derived = node(artifact_id, _label(artifact))
        for link in links:
            if link.target is not None:
                base = node(link.target.id, _label(link.target))
                lines.append(f"  {derived} --> {base}")
            elif link.dangling:
                base = node("missing:" + link.name, f"{link.name} (MISSING)", ('{{"', '"}}'))
                lines.append(f"  {derived} -.-> {base}")
            else:
                base = node("external:" + link.name, _external_label(link), ('(["', '"])'))
                lines.append(f"  {derived} --> {base}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Manifest text in a quoted Mermaid label: a quote would end it and angle brackets would inject markup,
    so they become Mermaid entity codes (`#quot;`), with `#` itself escaped first."""
    text = shown(" ".join(text.split()))
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
