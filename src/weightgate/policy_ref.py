"""The policy as it stands on the target branch (`check --policy-ref REF`): the change under review never
supplies the policy that judges it, nor the keys, certificates, trust roots or registry that policy names.

The policy file and the trust files it names (policy.TRUST_FILE_FIELDS) are read from git's objects at one
commit into a private temporary directory, laid out as in the repository (so `../keys/org.pub` still resolves
inside it), and loaded from there; the copy is removed when the check is done. Relative
`mirrors.approved_roots` are locations, not trust, and keep resolving against the policy's real directory.
What the working tree changes in those files is reported as WG645: it takes effect after merge.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from weightgate.errors import PolicyError, WeightgateError
from weightgate.findings import Finding, Location
from weightgate.policy import Policy, load_policy, trust_file_names
from weightgate.rules import POLICY_EDITED_BY_CHANGE
from weightgate.yamlsource import MAX_DOCUMENT_BYTES, LocatedDocument, load_document, parse_document

GIT_TIMEOUT_S = 60  # one git command; they read a handful of small objects
MAX_TRUST_FILE_BYTES = 64 * 1024 * 1024  # one trust file; a file-based registry is the largest kind
MAX_TRUST_FILES = 10_000  # files under a trust folder named by the policy
MAX_LISTED_EDITS = 5  # edited files named in the WG645 message
MAX_REF_CHARS = 256
_SHORT = 12
_FILE_MODES = ("100644", "100755")
# Inherited git variables that are the operator's configuration (e.g. safe.directory for a checkout owned by
# another user, as in a container job) are kept; every other GIT_* variable could point git at another
# repository, index or object store, or make it run a program, so it is dropped.
_KEPT_GIT_VARIABLES = re.compile(r"GIT_CONFIG_(GLOBAL|SYSTEM|NOSYSTEM|COUNT|PARAMETERS|KEY_\d+|VALUE_\d+)")
_HARDENED_GIT_ENV = {
    "GIT_LITERAL_PATHSPECS": "1",  # a path is a path: no globs or pathspec magic in a file name
    "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace must not substitute what REF's objects say
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # comparing with the working tree never writes the index
    "LC_ALL": "C",
}


@dataclass(frozen=True)
class PolicyAtRef:
    """A policy read at a commit, and what the working tree changes in it and the trust files it names."""

    policy: Policy
    ref: str  # as given
    commit: str  # the full object name REF resolved to
    repo_path: str  # the policy's path in the repository
    policy_edited: bool
    other_edits: tuple[str, ...]  # repository paths of named trust files the working tree changes
    copy_root: Path  # the private copy; gone once the `policy_at_ref` block ends

    @property
    def short(self) -> str:
        return self.commit[:_SHORT]

    def shown(self, text: str) -> str:
        """`text` with the private copy's paths named as `<commit>:<repository path>` (git's own syntax), so
        reports do not carry a temporary directory's name."""
        for prefix in (self.copy_root.as_uri() + "/", str(self.copy_root) + os.sep):
            text = text.replace(prefix, f"{self.commit}:")
        return text


@contextlib.contextmanager
def policy_at_ref(path: Path, ref: str, *, source: str | None = None) -> Iterator[PolicyAtRef]:
    """The policy at `path` as committed at `ref` in the repository holding `path`. The copy it was loaded from
    lives while the block runs (signer keys and the registry are read during the check) and is then removed."""
    _check_ref(ref)
    with tempfile.TemporaryDirectory(prefix="weightgate-policy-") as temp:
        yield _load(path, ref, Path(temp), source or str(path))


def policy_edit_findings(at_ref: PolicyAtRef) -> list[Finding]:
    """WG645 when the working tree edits the policy or a trust file it names (low: a note, never the verdict)."""
    if not at_ref.policy_edited and not at_ref.other_edits:
        return []
    source = at_ref.policy.source
    if at_ref.policy_edited:
        what = f"the change edits {source}"
        if at_ref.other_edits:
            what += f" (and {_files(at_ref.other_edits)} beside it: {_names(at_ref.other_edits)})"
    else:
        what = f"the change edits {_files(at_ref.other_edits)} the policy {source} names ({_names(at_ref.other_edits)})"
    named = "" if at_ref.commit.startswith(at_ref.ref.lower()) else f" ({at_ref.ref})"
    message = f"{what}; the gate applied the policy at {at_ref.short}{named}; the edit takes effect after merge"
    return [Finding(POLICY_EDITED_BY_CHANGE, message, Location(source, 1),
                    evidence=(("policy-ref", at_ref.ref), ("policy-commit", at_ref.commit)))]


def _files(paths: Sequence[str]) -> str:
    return f"{len(paths)} file" + ("" if len(paths) == 1 else "s")


def _names(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:MAX_LISTED_EDITS])
    return shown + (f", +{len(paths) - MAX_LISTED_EDITS} more" if len(paths) > MAX_LISTED_EDITS else "")


def _check_ref(ref: str) -> None:
    """REF is handed to git as one argument; one that could read as an option or is not a name is refused."""
    unprintable = any(c.isspace() or not c.isprintable() for c in ref)
    if not ref or len(ref) > MAX_REF_CHARS or ref.startswith("-") or unprintable:
        raise PolicyError(f"--policy-ref {ref!r} is not a git revision",
                          hint="give the target branch's commit (40 or 64 hex digits) or a ref name")


def _load(path: Path, ref: str, copy_root: Path, source: str) -> PolicyAtRef:
    git = _Git.for_path(path)
    repo_path = git.repo_path(path)
    commit = git.commit(ref)
    at = f"{ref} ({commit[:_SHORT]})"
    named = f"the policy {source}" + ("" if source == repo_path else f" ({repo_path})")
    text = git.blob_text(commit, repo_path, named, at)
    document = parse_document(text, Path(f"{commit[:_SHORT]}:{repo_path}"), "policy")
    copy = _inside(copy_root, repo_path)
    _write(copy, text.encode())
    base_names = _repo_paths(repo_path, trust_file_names(document.data), source, strict=True)
    for name in base_names:
        git.copy_tree(commit, name, copy_root, f"{name} (named by the policy {source})", at)
    policy = load_policy(copy, source=source, roots_base=git.toplevel / PurePosixPath(repo_path).parent,
                         revision=commit)
    edits = git.edited(commit, [repo_path, *base_names, *_working_tree_names(path, repo_path, source)])
    return PolicyAtRef(policy, ref, commit, repo_path, repo_path in edits,
                       tuple(e for e in edits if e != repo_path), copy_root)


def _working_tree_names(path: Path, repo_path: str, source: str) -> tuple[str, ...]:
    """The trust files the change's own policy names: an edit to one the change also points the policy at is an
    edit to the policy too. A policy the change broke names none (its edit is reported all the same)."""
    try:
        document: LocatedDocument = load_document(path, "policy")
    except WeightgateError:
        return ()
    return _repo_paths(repo_path, trust_file_names(document.data), source, strict=False)


def _repo_paths(policy_path: str, names: Sequence[str], source: str, *, strict: bool) -> tuple[str, ...]:
    """Repository paths of names relative to the policy file. Out of the repository, trust cannot come from
    the target branch: refused for the policy applied (`strict`), ignored for the change's own."""
    paths = []
    for name in names:
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(policy_path), name))
        if joined in (".", "..") or joined.startswith("../"):
            if strict:
                raise PolicyError(f"{source}: {name} is outside the repository, so it cannot be read at the policy "
                                  "ref", hint="keep keys, certificates, trust roots and the registry file in the "
                                  "repository beside the policy (and protect them like it)")
            continue
        paths.append(joined)
    return tuple(dict.fromkeys(paths))


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


@dataclass(frozen=True)
class _Git:
    """git in one repository: an argument list (never a shell), a timeout, and a scrubbed environment."""

    executable: str
    toplevel: Path

    @classmethod
    def for_path(cls, path: Path) -> _Git:
        executable = shutil.which("git")
        if executable is None:
            raise PolicyError("--policy-ref needs git, and git is not on PATH",
                              hint="install git (in a container job, use an image that has it)")
        start = path.absolute().parent
        while not start.is_dir() and start != start.parent:
            start = start.parent  # the change may have removed the policy's whole directory
        toplevel = _run(executable, start, ["rev-parse", "--show-toplevel"],
                        f"cannot find the git repository holding {path}",
                        hint="--policy-ref reads the policy from the git repository it is in; in a container job "
                        "whose user does not own the checkout, allow it with safe.directory").decode().strip()
        return cls(executable, Path(toplevel))

    def repo_path(self, path: Path) -> str:
        """`path` relative to the repository root, found without following links inside the repository: the
        change could turn the policy's directory into a link to another directory that holds some other policy
        at the target revision. The shallowest ancestor that is the repository root is the root."""
        lexical = Path(os.path.normpath(path.absolute()))
        top = os.path.realpath(self.toplevel)
        for ancestor in reversed(lexical.parents):
            if os.path.realpath(ancestor) == top:
                return lexical.relative_to(ancestor).as_posix()
        raise PolicyError(f"{path} is not inside the git repository {self.toplevel} (a symbolic link leads out of it)",
                          hint="give the policy's path inside the repository the policy ref belongs to")

    def commit(self, ref: str) -> str:
        out = self.run(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                       f"--policy-ref {ref!r} is not a commit in {self.toplevel}",
                       hint="fetch it first: actions/checkout with `fetch-depth: 0` (or `git fetch origin REF`); "
                       "GitLab: `GIT_DEPTH: 0`")
        return out.decode().strip()

    def entries(self, commit: str, repo_path: str) -> list[tuple[str, str, str, int, str]]:
        """(mode, type, object, size, path) of every blob at or under repo_path at commit."""
        out = self.run(["ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", repo_path],
                       f"cannot list {repo_path} at {commit[:_SHORT]}")
        rows = []
        for record in filter(None, out.split(b"\0")):
            meta, _, name = record.partition(b"\t")
            mode, kind, obj, size = meta.decode().split()
            rows.append((mode, kind, obj, int(size) if size.isdigit() else 0, name.decode("utf-8", "replace")))
        return rows

    def blob_text(self, commit: str, repo_path: str, what: str, at: str) -> str:
        rows = [r for r in self.entries(commit, repo_path) if r[4] == repo_path]
        if not rows:
            raise PolicyError(f"{what} is not in the repository at {at}",
                              hint="--policy-ref names the target branch, where the policy must already exist")
        data = self._blob(rows[0], what, at, MAX_DOCUMENT_BYTES)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PolicyError(f"{what} at {at} is not UTF-8 text ({e.reason} at byte {e.start})") from e

    def copy_tree(self, commit: str, repo_path: str, root: Path, what: str, at: str) -> None:
        """Write the file (or every file under the folder) at repo_path, as committed, below root."""
        rows = self.entries(commit, repo_path)
        if not rows:
            raise PolicyError(f"{what} is not in the repository at {at}",
                              hint="commit it to the target branch first; a file only the change adds is not trusted")
        if len(rows) > MAX_TRUST_FILES:
            raise PolicyError(f"{what} holds more than {MAX_TRUST_FILES} files at {at}")
        for row in rows:
            _write(_inside(root, row[4]), self._blob(row, f"{what}: {row[4]}", at, MAX_TRUST_FILE_BYTES))

    def _blob(self, row: tuple[str, str, str, int, str], what: str, at: str, limit: int) -> bytes:
        mode, kind, obj, size, _ = row
        if kind != "blob" or mode not in _FILE_MODES:
            raise PolicyError(f"{what} is not a regular file at {at} (git mode {mode})",
                              hint="weightgate does not follow symbolic links or submodules in trust material")
        if size > limit:
            raise PolicyError(f"{what} is over the limit at {at} ({size} bytes; the limit is {limit})")
        return self.run(["cat-file", "blob", obj], f"cannot read {what} at {at}")

    def edited(self, commit: str, repo_paths: Sequence[str]) -> tuple[str, ...]:
        """Which of repo_paths (files or folders) the working tree changes against commit: edited, deleted, or
        added and not yet committed."""
        paths = list(dict.fromkeys(repo_paths))
        changed = self.run(["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", commit,
                            "--", *paths], "cannot compare the working tree with the policy ref")
        added = self.run(["ls-files", "-z", "--others", "--exclude-standard", "--", *paths],
                         "cannot list untracked files beside the policy")
        names = (n.decode("utf-8", "replace") for n in (changed + b"\0" + added).split(b"\0") if n)
        return tuple(sorted(set(names)))

    def run(self, args: Sequence[str], failure: str, hint: str = "") -> bytes:
        return _run(self.executable, self.toplevel, args, failure, hint)


def _run(executable: str, cwd: Path, args: Sequence[str], failure: str, hint: str = "") -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or _KEPT_GIT_VARIABLES.fullmatch(k)}
    env.update(_HARDENED_GIT_ENV)
    command = [executable, "--no-pager", "-c", "core.fsmonitor=false", *args]
    try:
        # An argument list and no shell: REF and paths are data. S603 flags every subprocess call.
        result = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                                capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise PolicyError(f"{failure}: git {args[0]} took longer than {GIT_TIMEOUT_S} s") from e
    except OSError as e:
        raise PolicyError(f"{failure}: cannot run git ({e.strerror or e})") from e
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        # git's first `fatal:` line says what went wrong (e.g. "detected dubious ownership"); the lines after
        # it are advice.
        detail = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "")
        raise PolicyError(failure + (f" (git: {detail.strip()[:300]})" if detail else ""), hint=hint)
    return result.stdout


def _inside(root: Path, repo_path: str) -> Path:
    """Where a committed file goes in the copy; a name with `..` or an absolute name never leaves it."""
    parts = PurePosixPath(repo_path).parts
    if not parts or PurePosixPath(repo_path).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise PolicyError(f"the repository holds a file named {repo_path!r}, which cannot be copied safely")
    return root.joinpath(*parts)
