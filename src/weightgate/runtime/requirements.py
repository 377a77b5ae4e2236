"""Runtime dependencies from the files that declare them: requirements files, `pyproject.toml`, `setup.cfg`,
`environment.yml` (its `pip:` list), and the lock files services install from (pip requirements with hashes,
`uv.lock`, `poetry.lock`, `pylock.toml`).

Requirements are parsed by `packaging` (PEP 508, PEP 440) and TOML by the standard library, never by hand: the
gate must read `torch==2.5.1` exactly as pip will. Everything here is pure: bytes in, requirements out.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # packaging is imported by the functions that parse (a tenth of a check's start-up otherwise),
    # as are tomllib and configparser by the parsers that read TOML and setup.cfg
    from packaging.requirements import Requirement
    from packaging.version import Version

MAX_DEPENDENCY_FILE_BYTES = 4 * 1024 * 1024  # a lock of a large service is ~1 MiB; larger is not read
MAX_REQUIREMENTS = 20_000  # per file; the rest is reported as not read
MAX_SHOWN_LINE = 200
_CONTINUATION = re.compile(r"\\\r?\n")
_OPTION_IN_LINE = re.compile(r"\s--?[a-z][a-z-]*(?:[= ]\S+)?")


class DependencyFileKind(str, enum.Enum):
    REQUIREMENTS = "requirements"  # pip's format: requirements*.txt, and pip lock files with hashes
    PYPROJECT = "pyproject"
    SETUP_CFG = "setup.cfg"
    CONDA_ENVIRONMENT = "environment.yml"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PYLOCK = "pylock"  # PEP 751


def dependency_file_kind(path: str) -> DependencyFileKind | None:
    """The kind of dependency file a path names, by its file name (None: not one)."""
    name = path.rsplit("/", 1)[-1].lower()
    # requirements*.in are pip-compile's loose inputs: what installs is the compiled .txt beside them.
    if name.startswith("requirements") and name.endswith(".txt"):
        return DependencyFileKind.REQUIREMENTS
    if name == "pyproject.toml":
        return DependencyFileKind.PYPROJECT
    if name == "setup.cfg":
        return DependencyFileKind.SETUP_CFG
    if name in ("environment.yml", "environment.yaml"):
        return DependencyFileKind.CONDA_ENVIRONMENT
    if name == "uv.lock":
        return DependencyFileKind.UV_LOCK
    if name == "poetry.lock":
        return DependencyFileKind.POETRY_LOCK
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return DependencyFileKind.PYLOCK
    return None


def lock_file_kind(path: str) -> DependencyFileKind:
    """A service lock's kind: a named lock format, else pip's requirements format (pip-compile, `uv export`)."""
    kind = dependency_file_kind(path)
    return kind if kind is not None and kind is not DependencyFileKind.PYPROJECT else DependencyFileKind.REQUIREMENTS


@dataclass(frozen=True)
class RuntimeRequirement:
    """One requirement as declared: `name` is canonical (PEP 503); `version` is set only for an exact pin."""

    name: str
    specifier: str  # as packaging prints it ("" for a bare name)
    line: int  # 1-based line in its file (1 when the format has no useful line)
    version: str | None = None
    marker: str = ""

    @property
    def pinned(self) -> bool:
        return self.version is not None

    @property
    def shown(self) -> str:
        return f"{self.name}{self.specifier}"


@dataclass(frozen=True)
class ParsedDependencies:
    requirements: tuple[RuntimeRequirement, ...]
    problems: tuple[tuple[int, str], ...] = ()  # (line, what could not be read)


def exact_version(requirement: Requirement) -> str | None:
    """The one version a requirement allows (`==X` without a wildcard, or `===X`), else None."""
    specs = list(requirement.specifier)
    if len(specs) != 1 or requirement.url:
        return None
    spec = specs[0]
    if spec.operator == "===":
        return spec.version
    if spec.operator == "==" and not spec.version.endswith(".*"):
        return spec.version
    return None


def _requirement(text: str, line: int) -> RuntimeRequirement:
    """Raises packaging's InvalidRequirement."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    parsed = Requirement(text)
    return RuntimeRequirement(canonicalize_name(parsed.name), str(parsed.specifier), line, exact_version(parsed),
                              str(parsed.marker) if parsed.marker else "")


def parse_dependency_file(kind: DependencyFileKind, data: bytes) -> ParsedDependencies:
    """The requirements in a dependency file's bytes. A file that is not text or not its format is one problem
    at line 1, never an exception."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ParsedDependencies((), ((1, "not UTF-8 text"),))
    import configparser

    try:
        return _PARSERS[kind](text)
    except (_toml().TOMLDecodeError, configparser.Error, yaml.YAMLError) as e:
        return ParsedDependencies((), ((1, f"not a valid {kind.value} file: {_short(str(e))}"),))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SHOWN_LINE else text[:MAX_SHOWN_LINE] + "..."


# --- pip's requirements format -----------------------------------------------------------------------------

def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, logical line) with continuations joined and comments removed."""
    joined = _CONTINUATION.sub("\x00", text)  # a marker, so line numbers still count the joined lines
    number = 1
    for raw in joined.split("\n"):
        first = number
        number += 1 + raw.count("\x00")
        line = raw.replace("\x00", " ")
        # pip: a comment starts at a '#' at the line start or after whitespace.
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            yield first, line


def parse_requirements_text(text: str) -> ParsedDependencies:
    from packaging.requirements import InvalidRequirement

    requirements: list[RuntimeRequirement] = []
    problems: list[tuple[int, str]] = []
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            option = line.split(None, 1)[0].split("=", 1)[0]
            if option in ("-r", "--requirement", "-c", "--constraint", "-e", "--editable"):
                problems.append((number, f"{option} {_short(line[len(option):].strip())} is not followed"))
            continue  # index options, --hash lines: no requirement
        # Per-requirement options (`--hash=sha256:...`) follow the requirement after whitespace.
        requirement_text = _OPTION_IN_LINE.split(" " + line, maxsplit=1)[0].strip()
        if len(requirements) >= MAX_REQUIREMENTS:
            problems.append((number, f"more than {MAX_REQUIREMENTS} requirements; the rest were not read"))
            break
        try:
            requirement = _requirement(requirement_text, number)
        except InvalidRequirement:
            problems.append((number, f"not a requirement: {_short(line)}"))
            continue
        if "://" in requirement_text or requirement_text.startswith((".", "/")):
            problems.append((number, f"installs from a URL or path: {_short(requirement_text)}"))
        requirements.append(requirement)
    return ParsedDependencies(tuple(requirements), tuple(problems))


def _requirement_list(items: Any, line_of: dict[str, int] | None = None) -> ParsedDependencies:
    from packaging.requirements import InvalidRequirement

    requirements: list[RuntimeRequirement] = []
    problems: list[tuple[int, str]] = []
    for item in items if isinstance(items, list) else []:
        line = (line_of or {}).get(str(item), 1)
        if not isinstance(item, str):
            problems.append((line, f"not a requirement string: {_short(repr(item))}"))
            continue
        try:
            requirements.append(_requirement(item, line))
        except InvalidRequirement:
            problems.append((line, f"not a requirement: {_short(item)}"))
    return ParsedDependencies(tuple(requirements[:MAX_REQUIREMENTS]), tuple(problems))


def _lines_of(text: str) -> dict[str, int]:
    """The first line each quoted string appears on, to locate requirements listed inside TOML or INI."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        for quoted in re.findall(r"[\"']([^\"']+)[\"']", line) or [line.strip()]:
            found.setdefault(quoted, number)
    return found


def _toml() -> Any:
    """The TOML reader (imported when a TOML file is read: most checks read none, issue 18)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def parse_pyproject(text: str) -> ParsedDependencies:
    """`[project].dependencies`: what installing the project pulls in (extras are installed only on request)."""
    project = _toml().loads(text).get("project")
    return _requirement_list(project.get("dependencies", []) if isinstance(project, dict) else [], _lines_of(text))


def parse_setup_cfg(text: str) -> ParsedDependencies:
    import configparser

    config = configparser.ConfigParser(interpolation=None)
    config.read_string(text)
    value = config.get("options", "install_requires", fallback="")
    items = [line.split(" #", 1)[0].strip() for line in value.splitlines()]
    return _requirement_list([i for i in items if i], _lines_of(text))


def parse_conda_environment(text: str) -> ParsedDependencies:
    """The `pip:` list of a conda environment: PyPI packages. Conda packages (`pytorch=2.1`) are another
    ecosystem that PyPI advisories do not cover, and are left out."""
    document = yaml.safe_load(text)
    dependencies = document.get("dependencies", []) if isinstance(document, dict) else []
    pip: list[Any] = []
    for entry in dependencies if isinstance(dependencies, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("pip"), list):
            pip.extend(entry["pip"])
    return _requirement_list(pip, _lines_of(text))


# --- lock files ----------------------------------------------------------------------------------------------

def _locked(packages: Any, text: str) -> ParsedDependencies:
    """Entries of a TOML lock: `name` and `version` of each package table."""
    from packaging.utils import canonicalize_name

    lines = _lines_of(text)
    requirements: list[RuntimeRequirement] = []
    problems: list[tuple[int, str]] = []
    for entry in packages if isinstance(packages, list) else []:
        name, version = (entry.get("name"), entry.get("version")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str):
            problems.append((1, "a package entry without a name"))
            continue
        line = lines.get(name, 1)
        if not isinstance(version, str):
            # uv.lock's project itself (a virtual or editable source) has no version: it is not from an index.
            source = entry.get("source") if isinstance(entry, dict) else None
            if not (isinstance(source, dict) and ({"virtual", "editable"} & source.keys())):
                problems.append((line, f"{_short(name)} has no version"))
            continue
        requirements.append(RuntimeRequirement(canonicalize_name(name), f"=={version}", line, version))
    return ParsedDependencies(tuple(requirements[:MAX_REQUIREMENTS]), tuple(problems))


def parse_uv_lock(text: str) -> ParsedDependencies:
    return _locked(_toml().loads(text).get("package", []), text)


def parse_poetry_lock(text: str) -> ParsedDependencies:
    return _locked(_toml().loads(text).get("package", []), text)


def parse_pylock(text: str) -> ParsedDependencies:
    return _locked(_toml().loads(text).get("packages", []), text)


_PARSERS = {
    DependencyFileKind.REQUIREMENTS: parse_requirements_text,
    DependencyFileKind.PYPROJECT: parse_pyproject,
    DependencyFileKind.SETUP_CFG: parse_setup_cfg,
    DependencyFileKind.CONDA_ENVIRONMENT: parse_conda_environment,
    DependencyFileKind.UV_LOCK: parse_uv_lock,
    DependencyFileKind.POETRY_LOCK: parse_poetry_lock,
    DependencyFileKind.PYLOCK: parse_pylock,
}


def parsed_version(text: str) -> Version | None:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None
