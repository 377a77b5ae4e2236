"""`weightgate scan PATH...`: the content inspectors on files and folders, without a manifest.

Each path given is one *group*: a folder (walked recursively) or a single file. Files are read through the
same local mirror and streaming verify pass as `check` (one read per file, in parallel; a symlink leading
out of its group's folder, a FIFO or a device is a finding and is never opened), and judged by the same
format policy and inspectors. Findings are located at the scanned file, line 1.

A group has an artifact digest, computed exactly as for a manifest artifact whose mirror is that folder
(for a single file: its folder holding only that file), so a policy waiver written for `check` clears the
same finding in `scan`, and custom loading code (WG530) is judged per group. Chat-template files
(`*.jinja`) are judged by their path, as `check` judges them (WG535/WG536).

Python source (`*.py`, and with `--only-code` any file named on the command line) is read with `ast`, never
imported, for model loads around the gate (WG720-WG728, `checks/code_loads.py`); with a manifest, loads of
local paths outside every artifact's mirror are reported too. `--only-code` skips the content inspectors: the
pre-commit hook for application repositories.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from weightgate import __version__, rules
from weightgate.checks.chat_templates import template_file_findings
from weightgate.checks.custom_code import custom_code_finding, find_custom_code
from weightgate.checks.formats import issue_findings, judge_extension, judge_format
from weightgate.errors import InputFileError
from weightgate.facts import FileFacts, FileStatus, artifact_digest
from weightgate.findings import Finding, Location, sort_key
from weightgate.formats import Format
from weightgate.mirror.base import MirrorUnavailable
from weightgate.mirror.local import LocalMirror
from weightgate.pinned import PinnedFile
from weightgate.policy import FailOn, Policy, load_policy
from weightgate.report.interface import Report
from weightgate.verify import DEFAULT_WORKERS, VerifyJob, verify_artifacts

if TYPE_CHECKING:  # the code-load reader is imported only when a Python file turns up (start-up time)
    from weightgate.checks.code_loads import MirrorCoverage
from weightgate.waivers import apply_waivers

MAX_SCAN_FILES = 200_000
# Version-control metadata is not part of a model and would be read twice (git objects hold every file).
SKIPPED_DIRECTORIES = frozenset({".git", ".hg", ".svn"})

_STATUS_RULES = {FileStatus.ESCAPED: rules.PATH_ESCAPE}  # every other unread status: FILE_UNREADABLE


@dataclass(frozen=True)
class ScanOptions:
    """What `scan` reads and how it reports."""

    paths: tuple[Path, ...]
    policy: Path | None = None
    fail_on: FailOn | None = None  # None: the policy's
    workers: int = DEFAULT_WORKERS
    today: datetime.date | None = None
    timestamp: datetime.datetime | None = None
    source_root: Path = field(default_factory=Path.cwd)
    # The pre-commit hook hands over every committed file (a pickle may be named config.p or weights.dat):
    # the content decides, and files that are plain text, empty or no known format are passed over.
    model_files_only: bool = False
    # Application repositories: only Python source, read for model loads; content inspectors are skipped.
    code_only: bool = False
    manifest: Path | None = None  # loads of local paths outside its artifacts' mirrors are reported
    reproducible: bool = False  # reports carry nothing of where the inputs were checked out


PYTHON_SUFFIXES = (".py", ".pyw")

# What --only-model-files passes over: content that no loader deserialises and no inspector objects to.
PASSED_OVER = frozenset({Format.TEXT, Format.EMPTY, Format.UNKNOWN})


@dataclass(frozen=True)
class _Group:
    """One path given on the command line: the folder its files are read from, and those files."""

    label: str  # the path as given: how the report names the group
    root: Path  # the folder the mirror is opened on
    files: tuple[str, ...]  # paths relative to root, sorted
    single: bool = False  # a file given by itself
    sizes: tuple[int | None, ...] = ()  # per file, as listed (regular files): how the reads are scheduled

    def display(self, relative: str) -> str:
        """How the report names one of the group's files: the path as the user would type it."""
        if self.single:
            return self.label
        return relative if self.label in (".", "./") else f"{self.label.rstrip('/')}/{relative}"


def run_scan(options: ScanOptions) -> Report:
    """Scan files and folders; raises InputFileError for a path that does not exist (a usage error)."""
    policy = load_policy(options.policy)
    timestamp = options.timestamp or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    groups = [_group(path) for path in options.paths]
    if sum(len(g.files) for g in groups) > MAX_SCAN_FILES:
        raise InputFileError(f"more than {MAX_SCAN_FILES} files to scan", hint="scan narrower folders")
    coverage = _coverage(options)
    if options.code_only:
        return _code_scan(options, policy, timestamp, groups, coverage)
    results = verify_artifacts([_job(g) for g in groups], options.workers)
    findings: list[Finding] = []
    scanned: list[FileFacts] = []
    digests: dict[str, str] = {}
    for group, artifact in zip(groups, results, strict=True):
        files = [replace(f, path=group.display(f.path)) for f in artifact.files]
        digest = artifact.digest
        if options.model_files_only:
            files = [f for f in files if not _passed_over(f)]
        group_findings = [*(finding for f in files for finding in _file_findings(f, policy)),
                          *(() if options.model_files_only else _custom_code(group, artifact.files))]
        if not options.model_files_only:
            group_findings += [finding for relative in group.files if relative.endswith(PYTHON_SUFFIXES)
                               for finding in _code_findings(group, relative, policy, coverage)[1]]
        if digest is not None:
            digests.update({f.path: digest for f in files} | {group.label: digest})
            group_findings = [replace(f, evidence=(*f.evidence, ("artifact_digest", digest))) for f in group_findings]
        findings += group_findings
        scanned += files
    today = options.today or datetime.datetime.now(datetime.timezone.utc).date()  # not the report stamp's day
    findings = apply_waivers(findings, policy, digests, today)
    return Report(
        tool_version=__version__, policy=policy, fail_on=options.fail_on or policy.fail_on,
        findings=tuple(sorted(findings, key=sort_key)), timestamp=timestamp, source_root=options.source_root,
        scanned=tuple(scanned), reproducible=options.reproducible,
    )


def _passed_over(facts: FileFacts) -> bool:
    return facts.verified and facts.format in PASSED_OVER and not facts.issues


def _group(path: Path) -> _Group:
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        raise InputFileError(f"cannot scan {path}: {exc.strerror or exc}",
                             hint="pass existing files or folders") from None
    if stat.S_ISDIR(mode):
        listed = _walk(path)
        return _Group(str(path), path, tuple(listed), sizes=tuple(listed.values()))
    # A single file, a symlink, a FIFO...: its folder is the mirror, so a symlink out of it is never followed
    # and anything that is not a regular file is reported rather than opened.
    return _Group(str(path), path.parent, (path.name,), single=True)


def _walk(root: Path) -> dict[str, int | None]:
    """Every non-directory entry under root, relative and sorted, with its size when it is a regular file;
    symlinked folders are not entered (one inside root is walked through its real path anyway; one leading
    out is reported like a file)."""
    found: dict[str, int | None] = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        with os.scandir(root / folder if folder else root) as entries:
            for entry in entries:
                relative = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRECTORIES:
                        pending.append(relative)
                elif not (entry.is_symlink() and _is_inner_directory(root, relative)):
                    found[relative] = entry.stat(follow_symlinks=False).st_size if entry.is_file(
                        follow_symlinks=False) else None
                if len(found) > MAX_SCAN_FILES:
                    raise InputFileError(f"more than {MAX_SCAN_FILES} files under {root}", hint="scan narrower "
                                         "folders")
    return {name: found[name] for name in sorted(found)}


def _is_inner_directory(root: Path, relative: str) -> bool:
    real, top = Path(os.path.realpath(root / relative)), Path(os.path.realpath(root))
    return real.is_dir() and (real == top or top in real.parents)


def _job(group: _Group) -> VerifyJob:
    pinned = tuple(PinnedFile(path, None, None, None, ()) for path in group.files)
    try:
        mirror = LocalMirror(group.root)
        return VerifyJob(group.label, mirror.uri, mirror, pinned, listed_sizes=group.sizes)
    except MirrorUnavailable as exc:
        return VerifyJob(group.label, group.label, None, pinned, unavailable_reason=str(exc))


def _file_findings(facts: FileFacts, policy: Policy) -> Iterator[Finding]:
    where = Location(facts.path, 1)
    if not facts.verified or facts.format is None:
        rule = _STATUS_RULES.get(facts.status, rules.FILE_UNREADABLE)
        yield Finding(rule, f"{facts.path}: {facts.reason or facts.status.value}", where, facts.path, facts.path)
        return
    yield from judge_format(facts.format, policy.format_action(facts.format), where, facts.path, facts.path)
    yield from judge_extension(facts.path, facts.format, where, facts.path)
    yield from issue_findings(facts.issues, policy, where, facts.path, facts.path)
    yield from template_file_findings(facts.path, facts, policy, where, facts.path)


def _custom_code(group: _Group, files: tuple[FileFacts, ...]) -> Iterator[Finding]:
    found = find_custom_code(group.files, [f for f in files if f.verified])
    if found is not None:
        yield custom_code_finding(found, Location(group.display(found.first_path), 1), group.label)


# --- Python source: model loads around the gate ----------------------------------------------------------------

def _coverage(options: ScanOptions) -> MirrorCoverage | None:
    if options.manifest is None:
        return None
    from weightgate.checks.code_loads import manifest_coverage
    from weightgate.manifest import load_manifest

    loaded = load_manifest(options.manifest)
    if loaded.manifest is None:
        first = loaded.findings[0]
        raise InputFileError(f"{options.manifest} is not a valid manifest: {first.message}",
                             hint=f"run `weightgate check --offline {options.manifest}` and fix it first")
    return manifest_coverage(loaded.manifest, options.source_root)


def _code_scan(options: ScanOptions, policy: Policy, timestamp: datetime.datetime, groups: list[_Group],
               coverage: MirrorCoverage | None) -> Report:
    """Python files only: every file named on the command line, and *.py / *.pyw under folders."""
    findings: list[Finding] = []
    scanned: list[FileFacts] = []
    digests: dict[str, str] = {}
    for group in groups:
        sources = group.files if group.single else tuple(f for f in group.files if f.endswith(PYTHON_SUFFIXES))
        group_facts: list[FileFacts] = []
        group_findings: list[Finding] = []
        for relative in sources:
            facts, found = _code_findings(group, relative, policy, coverage)
            group_facts.append(facts)
            group_findings += found
        if group_facts and all(f.verified for f in group_facts):
            digest = artifact_digest((f.path, f.sha256, f.size) for f in group_facts)
            digests.update({f.path: digest for f in group_facts} | {group.label: digest})
            group_findings = [replace(f, evidence=(*f.evidence, ("artifact_digest", digest))) for f in group_findings]
        findings += group_findings
        scanned += group_facts
    today = options.today or datetime.datetime.now(datetime.timezone.utc).date()
    findings = apply_waivers(findings, policy, digests, today)
    return Report(
        tool_version=__version__, policy=policy, fail_on=options.fail_on or policy.fail_on,
        findings=tuple(sorted(findings, key=sort_key)), timestamp=timestamp, source_root=options.source_root,
        scanned=tuple(scanned),
    )


def _code_findings(group: _Group, relative: str, policy: Policy,
                   coverage: MirrorCoverage | None) -> tuple[FileFacts, list[Finding]]:
    """One Python file read (bounded, never through a symlink) and judged; its facts name it as reported."""
    from weightgate.checks.code_loads import source_findings
    from weightgate.codeloads import SourceScan, scan_source

    shown = group.display(relative)
    path = group.root / relative
    source = _read_source(path, group.root)
    if isinstance(source, str):
        facts = FileFacts(shown, FileStatus.UNREADABLE, path.as_uri() if path.is_absolute() else shown,
                          reason=source)
        return facts, list(source_findings(SourceScan(unreadable=source), shown, path, policy, coverage))
    facts = FileFacts(shown, FileStatus.VERIFIED, shown, hashlib.sha256(source).hexdigest(), len(source),
                      Format.TEXT)
    return facts, list(source_findings(scan_source(source), shown, path, policy, coverage))


def _read_source(path: Path, root: Path) -> bytes | str:
    """The file's bytes, or why they were not read: a symlink is followed only to a file inside the group's
    folder (as the content scan does), a FIFO or device is never waited on, and more than MAX_SOURCE_BYTES is
    not read whole."""
    from weightgate.codeloads import MAX_SOURCE_BYTES

    if path.is_symlink():
        real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
        if top not in real.parents:
            return "a symlink leading out of the scanned folder: not followed"
        path = real
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink: not followed"
        return f"cannot be opened: {exc.strerror or exc}"
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file: not read"
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        return f"larger than {MAX_SOURCE_BYTES} bytes: not parsed"
    return data
