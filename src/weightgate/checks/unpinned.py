"""WG309-WG310: files under an artifact's mirror location that the manifest does not pin.

The listing (weightgate.unpinned, gathered beside the verify pass) says what lies there and which files can run
code; this check applies the policy's ignore globs, which hide data and documentation but never code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.facts import FileStatus, ListingStatus, MirrorListing, UnpinnedFile
from weightgate.findings import Finding, Location
from weightgate.manifest import Artifact

MAX_FINDINGS_PER_RULE = 50  # per artifact; the rest are counted in one more finding (the JSON report lists all)
MAX_SHOWN_PATH = 300
_INCOMPLETE = {ListingStatus.TRUNCATED, ListingStatus.UNAVAILABLE}


def ignored(path: str, globs: Sequence[str]) -> bool:
    """A glob without '/' matches the file name; one with '/' the whole path under the location."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatchcase(path if "/" in glob else name, glob) for glob in globs)


def shown(path: str) -> str:
    """A listed path as a message may show it: mirror-supplied names can hold control characters."""
    text = path if path.isprintable() else repr(path)[1:-1]
    return text if len(text) <= MAX_SHOWN_PATH else text[:MAX_SHOWN_PATH] + "…"


def unpinned_files(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        listing = ctx.governance.listings.get(artifact.id)
        if listing is None:
            continue
        where = ctx.at(artifact, "mirror") if artifact.mirror is not None else ctx.at(artifact, "id")
        if listing.status in _INCOMPLETE and not _mirror_unusable(ctx, artifact):
            yield Finding(rules.UNPINNED_FILE, f"{artifact.id}: its mirror location could not be listed "
                          f"completely: {listing.reason}", where, artifact.id, evidence=(("uri", listing.uri),))
        code = [f for f in listing.unpinned if f.code]
        other = [f for f in listing.unpinned if not f.code and not ignored(f.path, ctx.policy.ignore_unpinned)]
        yield from _bounded(rules.UNPINNED_FILE_CODE, code, artifact, listing, where)
        yield from _bounded(rules.UNPINNED_FILE, other, artifact, listing, where)
        for pin in listing.superseded:
            now = f"version {shown(pin.current)}" if pin.current else "no current object (a delete marker)"
            yield Finding(rules.PINNED_VERSION_SUPERSEDED,
                          f"{artifact.id}: {shown(pin.path)} is pinned at version {shown(pin.pinned)}, but the key "
                          f"now has {now}: a sync or a read without the version id gets other bytes",
                          _file_location(ctx, artifact, pin.path, where), artifact.id,
                          evidence=(("uri", pin.uri), ("pinned_version", pin.pinned),
                                    ("current_version", pin.current or "")))


def _file_location(ctx: CheckContext, artifact: Artifact, path: str, fallback: Location) -> Location:
    for index, pinned in enumerate(artifact.files):
        if pinned.path == path:
            return ctx.at(artifact, "files", index, "version_id")
    return fallback


def _mirror_unusable(ctx: CheckContext, artifact: Artifact) -> bool:
    """WG308 already reports a mirror that refused every read (credentials, endpoint): a failed listing of it
    says nothing more."""
    facts = ctx.facts.get(artifact.id)
    return facts is not None and any(f.status is FileStatus.NOT_CHECKED for f in facts.files)


def _bounded(rule: rules.Rule, files: list[UnpinnedFile], artifact: Artifact, listing: MirrorListing,
             where: Location) -> Iterator[Finding]:
    for unpinned in files[:MAX_FINDINGS_PER_RULE]:
        yield _finding(rule, unpinned, artifact, where)
    if len(files) > MAX_FINDINGS_PER_RULE:
        rest = len(files) - MAX_FINDINGS_PER_RULE
        yield Finding(rule, f"{artifact.id}: {rest} more unpinned file(s) like these under {listing.uri} (the JSON "
                      "report lists every one)", where, artifact.id, evidence=(("uri", listing.uri),
                                                                              ("more", str(rest))))


def _finding(rule: rules.Rule, unpinned: UnpinnedFile, artifact: Artifact, where: Location) -> Finding:
    path = shown(unpinned.path)
    if unpinned.link_target is not None:
        what = f"a symlink to {shown(unpinned.link_target)} (never followed)"
    elif unpinned.special:
        what = "a FIFO, socket or device node"
    else:
        what = f"{unpinned.size} bytes" if unpinned.size is not None else "size unknown"
        what += f", {unpinned.format.value}" if unpinned.format is not None else ""
    why = f"; {unpinned.code}" if unpinned.code else ""
    evidence = [("uri", unpinned.uri)]
    evidence += [("link_target", unpinned.link_target)] if unpinned.link_target is not None else []
    evidence += [("format", unpinned.format.value)] if unpinned.format is not None else []
    return Finding(rule, f"{artifact.id}: {path} is not pinned by the manifest ({what}){why}", where, artifact.id,
                   unpinned.path, evidence=tuple(evidence))


CHECKS = (unpinned_files,)
