"""The `weightgate` command: parse arguments, call the library, pick reporters, map the outcome to an exit
code. No checking logic lives here."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import functools
import gc
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from weightgate import __version__
from weightgate.errors import WeightgateError
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_INTERRUPTED, EXIT_PASS, EXIT_TERMINATED
from weightgate.textsafety import EscapingFormatter, shown, shown_lines

if TYPE_CHECKING:
    from weightgate.gate import CheckOptions
    from weightgate.mirror.settings import EndpointOptions
    from weightgate.progress import Progress

log = logging.getLogger("weightgate")
GC_YOUNG_THRESHOLD = 10_000
# Parameter types, built once: each click.Path looks up its translations on the file system when made.
FILE = click.Path(path_type=Path, dir_okay=False)
EXISTING_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
FOLDER = click.Path(path_type=Path, file_okay=False)


class OutputFormat(str, enum.Enum):
    CONSOLE = "console"
    JSON = "json"


def _assert_never(value: NoReturn) -> NoReturn:
    raise AssertionError(f"unhandled value {value!r}")


def _render(fmt: OutputFormat, report: object, color: bool) -> str:
    from weightgate.report.interface import Report

    assert isinstance(report, Report)
    if fmt is OutputFormat.CONSOLE:
        from weightgate.report.console import ConsoleReporter
        from weightgate.terminal import terminal_width

        return ConsoleReporter(color=color, width=terminal_width(sys.stdout.isatty())).render(report)
    if fmt is OutputFormat.JSON:
        from weightgate.report.json import JsonReporter

        return JsonReporter().render(report)
    _assert_never(fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weightgate")
@click.option("-v", "--verbose", count=True, help="Log each file read (-v) and show tracebacks of internal errors. "
              "Give it before the command: weightgate -v check ...")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour the console report; auto honours NO_COLOR and FORCE_COLOR, else colours a terminal only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, color: str) -> None:
    """weightgate: a supply-chain promotion gate for AI model artifacts."""
    ctx.obj = {"verbose": verbose, "color": color}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def _endpoint_options(command: Callable[..., None]) -> Callable[..., None]:
    """--ca-bundle and the endpoint options (shared by check and pin), handed over as one EndpointOptions."""

    @functools.wraps(command)
    def wrapper(*args: Any, ca_bundle: Path | None, hf_endpoint: str | None, s3_endpoint: str | None,
                mlflow_tracking_uri: str | None, **kwargs: Any) -> None:
        from weightgate.mirror.settings import EndpointOptions

        command(*args, endpoints=EndpointOptions(ca_bundle, hf_endpoint, s3_endpoint, mlflow_tracking_uri), **kwargs)

    options = (
        click.option("--ca-bundle", type=EXISTING_FILE,
                     help="PEM file of the CA that signs internal mirrors (TLS is always verified)."),
        click.option("--hf-endpoint", help="Internal Hugging Face-compatible endpoint for hf:// mirrors."),
        click.option("--s3-endpoint", help="S3-compatible endpoint for s3:// mirrors (default: AWS_ENDPOINT_URL)."),
        click.option("--mlflow-tracking-uri", help="MLflow tracking server for models:/ mirrors."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _gate_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `check` and `merge` share: the policy, where reports go, and how findings are judged."""
    options = (
        click.option("--policy", type=FILE,
                     help="Policy file (default: built-in)."),
        click.option("--policy-ref", metavar="REF", help="Read --policy, and the keys, certificates, trust roots "
                     "and registry it names, as committed at this git revision (the target branch or the pull "
                     "request's base commit), never from the working tree; edits to them are reported (WG645)."),
        click.option("--mirror", callback=lambda _c, _p, v: _mirror_base(v), help="Mirror base (directory or "
                     "URI) for relative artifact mirrors; overrides the manifest's mirror_base."),
        click.option("--sarif", "sarif_path", type=FILE,
                     help="Write SARIF 2.1.0."),
        click.option("--sarif-category", metavar="CATEGORY", callback=lambda _c, _p, v: _sarif_category(v),
                     help="Code-scanning category of the SARIF (automationDetails.id; default: "
                     "weightgate/check/<manifest path>/, one per manifest)."),
        click.option("--bom", "bom_path", type=FILE,
                     help="Write a CycloneDX 1.6 ML-BOM."),
        click.option("--json", "json_path", type=FILE,
                     help="Write the JSON report to a file."),
        click.option("--gitlab-codequality", "codequality_path", type=FILE,
                     help="Write a GitLab Code Quality report (artifacts:reports:codequality)."),
        click.option("--github/--no-github", default=None, help="Write a GitHub job summary, annotations and "
                     "step outputs (default: when GITHUB_ACTIONS=true)."),
        click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="console",
                     show_default=True, help="Format of the report on standard output."),
        click.option("--registry", type=FILE,
                     help="File-based model registry (registry.yaml) to check registry_entry fields against; "
                     "overrides the policy's registry.file."),
        click.option("--evidence", help="Approvals store (folder or mirror URI) holding signed records by "
                     "artifact digest; overrides the policy's approvals.store."),
        click.option("--attest", "attest_path", type=FILE,
                     help="Write a signed decision record per artifact (in-toto statements with a SLSA "
                     "verification summary, DSSE-signed, one per line); needs --attest-key."),
        click.option("--attest-key", type=EXISTING_FILE,
                     help="PEM private key that signs --attest records (ECDSA, Ed25519 or RSA; an encrypted key "
                     "reads its password from WEIGHTGATE_ATTEST_KEY_PASSWORD)."),
        click.option("--fail-on", type=click.Choice(["error", "warning", "never"]),
                     help="Lowest level that fails the gate (default: the policy's fail_on)."),
        click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
                     help="Judge dates (approvals, re-validation, waivers) as of this day, e.g. for an audit."),
        click.option("--reproducible", is_flag=True, help="Stamp reports with a fixed time (SOURCE_DATE_EPOCH "
                     "when set, else 00:00 UTC of the day judged) so equal inputs give byte-identical SARIF and "
                     "BOM."),
        click.option("--source-root", type=FOLDER, default=".",
                     help="Paths in reports are relative to this (the repository root).", show_default=True),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing on standard output; rely on the exit code."),
    )
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@_endpoint_options
@click.argument("manifests", metavar="MANIFEST...", nargs=-1, required=True,
                type=FILE)
@_gate_options
@click.option("--offline", is_flag=True, help="Only checks that need no artifact bytes (fast; for pre-commit).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files verified in parallel.")
@click.option("--shard", "shard", metavar="I/N", help="Verify only shard I of N (balanced by pinned bytes) and "
              "write its file facts to --shard-out; `weightgate merge` judges the whole manifest from all N.")
@click.option("--shard-out", type=FILE,
              help="Where --shard writes its file facts (JSON).")
def check(manifests: tuple[Path, ...], offline: bool, workers: int | None, shard: str | None,
          shard_out: Path | None, **options: Any) -> None:
    """Check deployment MANIFESTs against a policy, re-hashing every pinned file from its mirror.

    Several manifests (as pre-commit passes them) are checked one after the other; report files then take
    one manifest at a time."""
    if shard is not None or shard_out is not None:
        _check_shard(manifests, shard, shard_out, offline, workers, options)
        return
    _gate(manifests, offline=offline, workers=workers, **options)


@cli.command()
@_endpoint_options
@click.argument("shards", metavar="SHARD...", nargs=-1, required=True,
                type=FILE)
@click.option("--manifest", required=True, type=FILE,
              help="The manifest the shards checked.")
@_gate_options
def merge(shards: tuple[Path, ...], manifest: Path, **options: Any) -> None:
    """Judge a manifest from the file facts of every `check --shard` run, writing exactly the reports and decision
    records one `check` would have written. A shard missing, repeated or from another run is an error."""
    _gate((manifest,), offline=False, workers=None, shards=shards, **options)


def _gate(manifests: tuple[Path, ...], policy: Path | None, mirror: str | None, sarif_path: Path | None,
          bom_path: Path | None, json_path: Path | None, codequality_path: Path | None, github: bool | None,
          fmt: str, offline: bool, fail_on: str | None, workers: int | None, as_of: datetime.datetime | None,
          source_root: Path, quiet: bool, registry: Path | None, attest_path: Path | None,
          attest_key: Path | None, evidence: str | None, policy_ref: str | None, reproducible: bool,
          endpoints: EndpointOptions, sarif_category: str | None, shards: tuple[Path, ...] = ()) -> None:
    from weightgate.gate import CheckOptions
    from weightgate.policy import FailOn
    from weightgate.verify import DEFAULT_WORKERS

    if len(manifests) > 1 and (sarif_path or bom_path or json_path or codequality_path or fmt != "console"):
        raise click.UsageError("--sarif, --bom, --json, --gitlab-codequality and --format json take one manifest")
    signer = _attestation_signer(attest_path, attest_key, len(manifests), offline)
    timestamp = _report_timestamp(reproducible, as_of)
    in_github = _in_github(github)
    with _github_fence(in_github):
        reports, failures = _check_and_show(manifests, fmt, quiet, ReportPaths(sarif_path, bom_path, json_path,
                                  codequality_path, sarif_category), attest_path, signer, in_github, CheckOptions(
            manifest=manifests[0], policy=policy, mirror=mirror, offline=offline,
            fail_on=FailOn(fail_on) if fail_on else None, workers=workers or DEFAULT_WORKERS,
            today=as_of.date() if as_of else None, timestamp=timestamp, source_root=source_root, registry=registry,
            endpoints=endpoints, progress=_progress(quiet or offline or bool(shards)), evidence=evidence,
            policy_ref=policy_ref, reproducible=reproducible, shards=shards))
    if in_github:
        from weightgate.report.github import publish

        # After the fence: these annotations are weightgate's own workflow commands.
        click.echo(publish(reports, os.environ, sarif_path, bom_path), nl=False)
    _raise_output_failures(failures)
    sys.exit(EXIT_FINDINGS if any(report.failed for report in reports) else EXIT_PASS)


# Options that write reports or decide: a shard writes only its file facts, the merge writes everything.
_MERGE_ONLY = {"sarif_path": "--sarif", "bom_path": "--bom", "json_path": "--json",
               "codequality_path": "--gitlab-codequality", "attest_path": "--attest", "attest_key": "--attest-key",
               "registry": "--registry", "evidence": "--evidence", "fail_on": "--fail-on", "as_of": "--as-of",
               "sarif_category": "--sarif-category"}


def _check_shard(manifests: tuple[Path, ...], shard: str | None, shard_out: Path | None, offline: bool,
                 workers: int | None, options: dict[str, Any]) -> None:
    """`check --shard I/N --shard-out FILE`: stream this shard's files and write their facts, nothing else."""
    from weightgate.gate import CheckOptions, run_shard
    from weightgate.shards import ShardSpec, shard_document
    from weightgate.verify import DEFAULT_WORKERS

    if shard is None or shard_out is None:
        raise click.UsageError("--shard I/N and --shard-out FILE go together")
    if len(manifests) > 1 or offline:
        raise click.UsageError("--shard reads the files of one manifest (not --offline)")
    given = [flag for name, flag in _MERGE_ONLY.items() if options.get(name)]
    if given or options["fmt"] != "console":
        raise click.UsageError(f"{', '.join(given) or '--format'}: reports and decisions come from "
                               "`weightgate merge`; a shard writes only --shard-out")
    spec = ShardSpec.parse(shard)
    in_github = _in_github(options["github"])
    with _github_fence(in_github):
        facts = run_shard(CheckOptions(
            manifest=manifests[0], policy=options["policy"], mirror=options["mirror"],
            workers=workers or DEFAULT_WORKERS, source_root=options["source_root"], endpoints=options["endpoints"],
            progress=_progress(options["quiet"]), policy_ref=options["policy_ref"]), spec)
        _raise_output_failures(_written(shard_out, lambda: shard_document(facts)))
        if not options["quiet"]:
            from weightgate.report.shard import shard_summary

            text = shard_summary(facts, shard_out)
            click.echo(_shielded(text) if in_github else text, nl=False)


def _in_github(flag: bool | None) -> bool:
    """--github/--no-github, else whether this runs in a GitHub Actions runner."""
    return flag if flag is not None else os.environ.get("GITHUB_ACTIONS") == "true"


@contextlib.contextmanager
def _github_fence(in_github: bool) -> Iterator[None]:
    """In a GitHub runner, everything printed while the check runs (per-file progress on standard error, the
    console report, log lines, errors) sits between `::stop-commands::TOKEN` and `::TOKEN::`, so that text
    from the manifest or a mirror can never be obeyed as a workflow command (`::add-mask::`, `::error::`).
    The fence opens before any other output and closes before weightgate writes its own annotations."""
    if not in_github:
        yield
        return
    from weightgate.report.github import stop_commands_token

    token = stop_commands_token()
    sys.stdout.flush()
    click.echo(f"::stop-commands::{token}", err=True)
    sys.stderr.flush()
    try:
        yield
    finally:
        sys.stdout.flush()
        click.echo(f"::{token}::", err=True)
        sys.stderr.flush()


def _check_and_show(manifests: tuple[Path, ...], fmt: str, quiet: bool, paths: ReportPaths,
                    attest_path: Path | None, signer: object, in_github: bool,
                    options: CheckOptions) -> tuple[list[Any], list[WeightgateError]]:
    """Check each manifest, write every requested report and show the console one. A report that cannot be
    written does not stop the others: its error is returned, to be raised once everything else is out."""
    from weightgate.gate import run_check

    reports = [run_check(dataclasses.replace(options, manifest=manifest)) for manifest in manifests]
    failures = _write_reports(reports[0], paths)
    if attest_path is not None:
        from weightgate.evidence.attestation import attestation_lines

        failures += _written(attest_path, lambda: attestation_lines(reports[0], signer))
    if not quiet:
        color = _color()
        text = "".join(_render(OutputFormat(fmt), report, color=color) for report in reports)
        # color=: click strips styles from a non-terminal unless told (--color always, FORCE_COLOR).
        click.echo(_shielded(text) if in_github and fmt == "console" else text, nl=False, color=color)
    return reports, failures



@cli.command()
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--policy", type=FILE, help="Policy file (default: built-in).")
@click.option("--sarif", "sarif_path", type=FILE, help="Write SARIF 2.1.0.")
@click.option("--bom", "bom_path", type=FILE,
              help="Write a CycloneDX 1.6 ML-BOM of the scanned files.")
@click.option("--json", "json_path", type=FILE,
              help="Write the JSON report to a file.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="console",
              show_default=True, help="Format of the report on standard output.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]),
              help="Lowest level that fails the scan (default: the policy's fail_on).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files read in parallel.")
@click.option("--reproducible", is_flag=True, help="Stamp reports with a fixed time (SOURCE_DATE_EPOCH when set, "
              "else 00:00 UTC of the day judged) so equal inputs give byte-identical SARIF and BOM.")
@click.option("--source-root", type=FOLDER, default=".",
              help="Paths in reports are relative to this (the repository root).", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on standard output; rely on the exit code.")
@click.option("--only-model-files", is_flag=True, help="Pass over files whose content is plain text, empty or no "
              "known format, whatever their names (the pre-commit hook hands over every committed file); "
              "finding none to scan then exits 0.")
@click.option("--only-code", is_flag=True, help="Read only Python source for model loads around the gate (every "
              "file named, *.py under folders); skip the content inspectors. The application-repository hook.")
@click.option("--manifest", "manifest_path", type=FILE,
              help="Deployment manifest: code loads of local paths outside every artifact's mirror are reported.")
def scan(paths: tuple[Path, ...], policy: Path | None, sarif_path: Path | None, bom_path: Path | None,
         json_path: Path | None, fmt: str, fail_on: str | None, workers: int | None, source_root: Path,
         quiet: bool, reproducible: bool = False, only_model_files: bool = False, only_code: bool = False,
         manifest_path: Path | None = None) -> None:
    """Scan model files and folders (recursively) with the content inspectors; no manifest needed.

    Python files are also read (never imported) for model loads around the gate: hub ids, URLs, downloads,
    remote code, unsafe deserialisation (WG720-WG728).

    Exit 0 clean, 1 findings at or above the fail level, 2 usage or input error, 3 nothing found to scan.
    Usable as a pre-commit hook: `weightgate scan FILE...`."""
    from weightgate.exitcodes import EXIT_NOTHING_CHECKED
    from weightgate.policy import FailOn
    from weightgate.scan import ScanOptions, run_scan
    from weightgate.verify import DEFAULT_WORKERS

    if only_code and only_model_files:
        raise click.UsageError("--only-code and --only-model-files select different files; pass one of them")
    report = run_scan(ScanOptions(paths=paths, policy=policy, fail_on=FailOn(fail_on) if fail_on else None,
                                  workers=workers or DEFAULT_WORKERS, source_root=source_root,
                                  timestamp=_report_timestamp(reproducible, None),
                                  model_files_only=only_model_files, code_only=only_code,
                                  manifest=manifest_path, reproducible=reproducible))
    if not report.scanned and only_model_files:
        sys.exit(EXIT_PASS)  # a commit of text and images: no model file among them
    if not report.scanned:
        what = "Python files" if only_code else "files"
        click.echo(shown(f"weightgate: no {what} found to scan in {', '.join(map(str, paths))}"), err=True)
        sys.exit(EXIT_NOTHING_CHECKED)
    failures = _write_reports(report, ReportPaths(sarif_path, bom_path, json_path))
    if not quiet:
        color = _color()
        click.echo(_render(OutputFormat(fmt), report, color=color), nl=False, color=color)
    _raise_output_failures(failures)
    sys.exit(EXIT_FINDINGS if report.failed else EXIT_PASS)


def _shielded(text: str) -> str:
    """The console report between `::stop-commands::` markers, so that manifest text in it cannot pose as a
    GitHub workflow command."""
    from weightgate.report.github import stop_commands_token

    token = stop_commands_token()
    return f"::stop-commands::{token}\n{text}::{token}::\n"


@dataclasses.dataclass(frozen=True)
class ReportPaths:
    """The report files one run writes (None: not requested), and the SARIF category override."""

    sarif: Path | None = None
    bom: Path | None = None
    json: Path | None = None
    codequality: Path | None = None
    sarif_category: str | None = None


def _write_reports(report: object, paths: ReportPaths) -> list[WeightgateError]:
    """Write every requested report; one that cannot be written is returned, and the others are still written."""
    from weightgate.report.interface import Report

    assert isinstance(report, Report)
    failures: list[WeightgateError] = []
    if paths.sarif:
        from weightgate.report.sarif import SarifReporter

        failures += _written(paths.sarif, lambda: SarifReporter(paths.sarif_category).render(report))
    if paths.bom:
        from weightgate.report.cyclonedx import CycloneDxReporter

        failures += _written(paths.bom, lambda: CycloneDxReporter().render(report))
    if paths.json:
        failures += _written(paths.json, lambda: _render(OutputFormat.JSON, report, color=False))
    if paths.codequality:
        from weightgate.report.gitlab import GitlabCodeQualityReporter

        failures += _written(paths.codequality, lambda: GitlabCodeQualityReporter().render(report))
    return failures


def _written(path: Path, render: Callable[[], str]) -> list[WeightgateError]:
    from weightgate.outputs import write_atomic

    try:
        write_atomic(path, render())
    except WeightgateError as e:
        return [e]
    return []


def _raise_output_failures(failures: list[WeightgateError]) -> None:
    """After every other output is out: exit 2, naming each report that could not be written."""
    if not failures:
        return
    from weightgate.errors import OutputError

    hints = dict.fromkeys(e.hint for e in failures if e.hint)
    raise OutputError(f"{len(failures)} report(s) not written: " + "; ".join(str(e) for e in failures),
                      hint="; ".join([*hints, "every other report and the console report were written"]))


def _mirror_base(value: str | None) -> str | None:
    """--mirror names an existing directory or a URI: a mistyped path is one usage error, not a finding for
    every file the manifest pins."""
    if value is None:
        return None
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(value)
    if "://" in value and parts.scheme != "file":
        return value
    local = Path(unquote(parts.path)) if parts.scheme == "file" else Path(value)
    if not local.exists():
        raise click.BadParameter(f"mirror base {value} does not exist", param_hint="--mirror")
    if not local.is_dir():
        raise click.BadParameter(f"mirror base {value} is not a directory (give a folder or a URI such as "
                                 "s3://bucket/models)", param_hint="--mirror")
    return value


def _sarif_category(value: str | None) -> str | None:
    """A code-scanning category: letters, digits and `_.-/`, as GitHub shows it in its category filter."""
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,199}", value):
        raise click.BadParameter("letters, digits and _ . - / only (up to 200), e.g. weightgate/models-prod/",
                                 param_hint="--sarif-category")
    return value


class LineageFormat(str, enum.Enum):
    TEXT = "text"
    MERMAID = "mermaid"


@cli.command()
@click.argument("manifest", type=FILE)
@click.option("--format", "fmt", type=click.Choice([f.value for f in LineageFormat]), default="text",
              show_default=True, help="A text tree, or a Mermaid flowchart (for Markdown).")
def lineage(manifest: Path, fmt: str) -> None:
    """Print the base-model lineage of a MANIFEST: each artifact with the bases it derives from."""
    from weightgate.errors import InputFileError
    from weightgate.lineage import build_lineage, mermaid, text_tree
    from weightgate.manifest import load_manifest

    loaded = load_manifest(manifest)
    if loaded.manifest is None:
        problems = "\n".join(f"  {f.location.path}:{f.location.line}: {f.message}" for f in loaded.findings)
        raise InputFileError(f"manifest {manifest} is invalid:\n{problems}", hint="`weightgate check` reports it")
    choice = LineageFormat(fmt)
    if choice is LineageFormat.TEXT:
        click.echo(text_tree(build_lineage(loaded.manifest)), nl=False)
    elif choice is LineageFormat.MERMAID:
        click.echo(mermaid(loaded.manifest), nl=False)
    else:
        _assert_never(choice)


@cli.command()
@_endpoint_options
@click.argument("manifest", type=FILE)
@click.option("--policy", type=FILE, help="Policy file (default: built-in).")
@click.option("--mirror", callback=lambda _c, _p, v: _mirror_base(v),
              help="Mirror base (directory or URI) for relative artifact mirrors.")
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 when something would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print the change as a unified diff.")
def pin(manifest: Path, policy: Path | None, mirror: str | None, check_only: bool, show_diff: bool,
        endpoints: EndpointOptions | None = None) -> None:
    """Pin MANIFEST: resolve mutable references and fill in file digests from the mirror, in place.

    Comments and layout are kept. An artifact is changed only when every one of its files was read and
    verified at the resolved reference."""
    from weightgate.outputs import write_atomic
    from weightgate.pin import describe, pin_manifest

    result = pin_manifest(manifest, policy, mirror, endpoints)
    for line in describe(result):
        click.echo(shown(line), err=True)
    if show_diff:  # manifest text: controls, bidi marks and workflow commands escaped, line breaks kept
        click.echo(shown_lines(result.diff()), nl=False)
    if result.changed and not check_only:
        write_atomic(manifest, result.updated)
    if check_only and result.changed:
        click.echo(shown(f"{manifest}: not pinned ({len(result.changes)} change(s) needed)"), err=True)
    sys.exit(EXIT_FINDINGS if result.problems or (check_only and result.changed) else EXIT_PASS)


@cli.command()
@click.argument("name", type=click.Choice(["manifest", "policy", "report", "approval", "deployment",
                                           "default-policy"]))
def schema(name: str) -> None:
    """Print the manifest, policy, JSON report, review-record (approval) or deployment-record Schema, or the
    built-in default policy."""
    if name == "default-policy":
        from weightgate.policy import default_policy_text

        click.echo(default_policy_text(), nl=False)
        return
    from weightgate.jsonschemas import SchemaName, schema_text

    click.echo(schema_text(cast(SchemaName, name)), nl=False)  # click.Choice admits only schema names here


@cli.group()
def advisories() -> None:
    """Keep the offline advisory snapshot (OSV) that runtime dependencies are matched against."""


@advisories.command("update")
@click.option("--from", "source", required=True, metavar="URI",
              help="Where the new OSV snapshot (a zip as the OSV project exports per ecosystem) is: a path, file://, "
                   "https:// or s3:// URI of your internal mirror.")
@click.option("--to", "target", required=True, type=FILE,
              help="Where to keep it (the policy's `advisories.snapshot`); replaced only once the new one is verified.")
@click.option("--sha256", "expected", help="Refuse the snapshot unless it has this sha256.")
@click.option("--policy", type=FILE,
              help="Policy whose mirror settings (CA bundle, endpoints, allow_http) reach --from.")
def advisories_update(source: str, target: Path, expected: str | None, policy: Path | None) -> None:
    """Fetch, verify and index a new advisory snapshot, and print the sha256 to pin in the policy."""
    from weightgate.mirror import open_mirror
    from weightgate.mirror.settings import settings_for
    from weightgate.policy import load_policy
    from weightgate.runtime.update import update_snapshot

    settings = settings_for(load_policy(policy))
    info = update_snapshot(source, target, lambda location: open_mirror(location, settings), expected)
    newest = info.newest_modified.isoformat() if info.newest_modified else "unknown"
    click.echo(shown_lines(f"{target}: {info.records} OSV records ({info.pypi_records} for PyPI packages), newest "
                           f"modified {newest}\nsha256: {info.sha256}\nPin it in the policy: advisories.sha256: "
                           f"{info.sha256}"))


@cli.command("rules")
@click.option("--markdown", is_flag=True, help="Print docs/rules.md instead of the table.")
def rules_command(markdown: bool) -> None:
    """List every rule with its id, severity and what it catches."""
    from weightgate.rulesdoc import rule_lines, rules_markdown

    click.echo(rules_markdown() if markdown else rule_lines(), nl=False)


def _progress(silent: bool) -> Progress | None:
    """Bars on a terminal; otherwise (CI logs) a line every few seconds or percent, one per file with -v;
    nothing with --quiet."""
    from weightgate.progress import BarProgress, LineProgress, PeriodicProgress

    if silent:
        return None
    if sys.stderr.isatty():
        return BarProgress()
    return LineProgress() if _global_option("verbose", 0) else PeriodicProgress()


def _global_option(name: str, default: Any) -> Any:
    """A group option (-v, --color) as the running command sees it; its default outside a click run."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj.get(name, default) if isinstance(obj, dict) else default


def _color(stream: Any = None) -> bool:
    """Whether to style text for `stream` (standard output by default): --color, else NO_COLOR / FORCE_COLOR,
    else whether it is a terminal."""
    from weightgate.terminal import color_enabled

    stream = sys.stdout if stream is None else stream
    return color_enabled(_global_option("color", "auto"), stream.isatty(), os.environ)


def _attestation_signer(attest_path: Path | None, attest_key: Path | None, manifests: int, offline: bool) -> object:
    """The signer for --attest, loaded before the check runs so a bad key fails fast."""
    if attest_path is None:
        if attest_key is not None:
            raise click.UsageError("--attest-key needs --attest FILE")
        return None
    if attest_key is None:
        raise click.UsageError("--attest needs --attest-key KEY")
    if manifests > 1 or offline:
        raise click.UsageError("--attest takes one manifest and a full (not --offline) run: a decision record "
                               "names bytes that were read")
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_signer
    from weightgate.inputfiles import read_input

    return load_signer(read_input(attest_key, MAX_KEY_BYTES, "attestation key"), str(attest_key))


@cli.command()
@_endpoint_options
@click.argument("manifest", type=EXISTING_FILE)
@click.option("--artifact", "artifact_id", required=True, help="Id of the artifact reviewed.")
@click.option("--role", required=True, help="The role decided for (security, compliance, legal, ...).")
@click.option("--key", "key_path", required=True, type=EXISTING_FILE,
              help="The reviewer's PEM private key (an encrypted key reads its password from "
              "WEIGHTGATE_ATTEST_KEY_PASSWORD).")
@click.option("--cert", "cert_path", type=EXISTING_FILE,
              help="The key's X.509 certificate (PEM, leaf first, then intermediates): the record then carries "
              "the chain and is checked against the policy's CA.")
@click.option("--decision", type=click.Choice(["approved", "rejected"]), default="approved", show_default=True)
@click.option("--reviewer", help="Who you are (e-mail); default: the certificate's identity. Informative: the gate "
              "judges the signer.")
@click.option("--ticket", help="Change or review ticket.")
@click.option("--justification", help="Why you decided so.")
@click.option("--environment", "environments", multiple=True, help="Environment (glob) the decision covers; "
              "repeatable; none: every environment.")
@click.option("--license-expression", help="License review: the SPDX expression reviewed.")
@click.option("--commercial-use/--no-commercial-use", default=None, help="License review: commercial use allowed.")
@click.option("--redistribution/--no-redistribution", default=None, help="License review: redistribution allowed.")
@click.option("--derivatives/--no-derivatives", default=None, help="License review: derivatives allowed.")
@click.option("--output-rights", help="License review: who owns outputs, and restrictions on them.")
@click.option("--training-data-terms", help="License review: training-data terms that carry over.")
@click.option("--verify", is_flag=True, help="Compute the digest from the mirror's bytes (streamed once), not only "
              "the pins.")
@click.option("--policy", type=FILE, help="Policy for --verify's mirror "
              "settings (default: built-in).")
@click.option("--mirror", help="Mirror base for --verify (overrides the manifest's mirror_base).")
@click.option("-o", "--output", "output", type=FILE,
              help="Write the record to this file (one JSON line).")
@click.option("--store", type=FOLDER,
              help="Append the record to the approvals store folder (<digest hex>.jsonl).")
def approve(manifest: Path, artifact_id: str, role: str, key_path: Path, cert_path: Path | None, decision: str,
            reviewer: str | None, ticket: str | None, justification: str | None, environments: tuple[str, ...],
            license_expression: str | None, commercial_use: bool | None, redistribution: bool | None,
            derivatives: bool | None, output_rights: str | None, training_data_terms: str | None, verify: bool,
            policy: Path | None, mirror: str | None, output: Path | None, store: Path | None,
            endpoints: EndpointOptions | None = None) -> None:
    """Sign a review of one artifact of MANIFEST: a DSSE-signed in-toto statement whose subject is the artifact
    digest (`weightgate schema approval` describes the predicate). It counts at the gate only when the policy on
    the target branch names the signer for ROLE."""
    from weightgate.approve import ApproveOptions, approval_record, now_utc, record_line, store_path, subject_of
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_signer
    from weightgate.evidence.reviews import Decision, LicenseTerms, Review
    from weightgate.inputfiles import read_input
    from weightgate.mirror.settings import EndpointOptions
    from weightgate.outputs import write_atomic

    if (output is None) == (store is None):
        raise click.UsageError("give one of -o FILE or --store DIR")
    signer = load_signer(read_input(key_path, MAX_KEY_BYTES, "signing key"), str(key_path))
    chain = read_input(cert_path, MAX_KEY_BYTES, "certificate") if cert_path else None
    license_fields = (commercial_use, redistribution, derivatives, output_rights, training_data_terms)
    if license_expression is None and any(v is not None for v in license_fields):
        raise click.UsageError("license review options need --license-expression")
    subject = subject_of(ApproveOptions(manifest, artifact_id, verify, policy, mirror, endpoints or EndpointOptions()))
    review = Review(role=role, decision=Decision(decision), reviewer=reviewer or _certificate_identity(chain),
                    time=now_utc(), ticket=ticket, justification=justification, environments=environments,
                    license=LicenseTerms(license_expression, *license_fields) if license_expression else None)
    line = record_line(approval_record(subject, review, signer, chain, str(cert_path)))
    if output is not None:
        write_atomic(output, line)
        written = output
    else:
        assert store is not None
        written = store_path(store, subject)
        store.mkdir(parents=True, exist_ok=True)
        with written.open("a", encoding="utf-8") as handle:
            handle.write(line)
    click.echo(shown(f"{decision} {subject.artifact_id} {subject.digest} as {role} "
               f"({'verified bytes' if subject.verified else 'pinned digest'}): {written}"), err=True)


def _certificate_identity(chain: bytes | None) -> str:
    if chain is None:
        raise click.UsageError("--reviewer is needed without --cert")
    from cryptography import x509

    from weightgate.evidence.dsse import san_names

    try:
        names = san_names(x509.load_pem_x509_certificates(chain)[0])
    except ValueError as e:
        raise click.UsageError(f"--cert is not a PEM certificate: {e}") from None
    if not names:
        raise click.UsageError("the certificate names no e-mail or URI identity; pass --reviewer")
    return names[0]


@cli.command("verify-attestation")
@click.argument("attestation", type=EXISTING_FILE)
@click.option("--key", "key_path", required=True, type=EXISTING_FILE,
              help="PEM public key of the gate's --attest-key.")
@click.option("--digest", required=True, help="The artifact digest about to be deployed (sha256:<hex>).")
@click.option("--policy-digest", "policy_digests", multiple=True, metavar="sha256:<hex>",
              help="Accept a PASSED record only if made under a policy with this digest (repeatable: any of "
              "them; `weightgate check --format json` shows policy.sha256).")
@click.option("--artifact", "artifact", metavar="ID",
              help="Count only records that name this manifest entry (artifact id).")
def verify_attestation(attestation: Path, key_path: Path, digest: str, policy_digests: tuple[str, ...],
                       artifact: str | None) -> None:
    """Check that the gate PASSED the artifact DIGEST: among the records for it in ATTESTATION (from `check
    --attest`) that verify with the key, the newest run's (by the time it signed them; records dated in the
    future are refused) must say PASSED (any FAILED record of that run wins), under an accepted policy when
    --policy-digest is given. Exit 0 passed, 1 failed, other policy or no verified record, 2 input error."""
    from weightgate.evidence.attestation import MAX_ATTESTATION_BYTES, Outcome, verify_attestations
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_public_key
    from weightgate.inputfiles import read_input

    key = load_public_key(read_input(key_path, MAX_KEY_BYTES, "public key"), str(key_path))
    raw = read_input(attestation, MAX_ATTESTATION_BYTES, "attestation")
    verdict = verify_attestations(raw.decode("utf-8", errors="replace"), key, digest, policy_digests,
                                  artifact=artifact)
    for reason in verdict.rejected:
        click.echo(shown(f"weightgate: ignored {attestation}: {reason}"), err=True)
    click.echo(shown(f"{verdict.outcome.value}: {verdict.message}"))
    sys.exit(EXIT_PASS if verdict.outcome is Outcome.PASSED else EXIT_FINDINGS)


@cli.command()
@_endpoint_options
@click.argument("target", metavar="LOCATION")
@click.option("--records", required=True, help="Decision records from `check --attest`: a file, a folder of "
              "*.jsonl files, or a mirror URI.")
@click.option("--key", "key_path", required=True, type=EXISTING_FILE,
              help="PEM public key of the gate's --attest-key.")
@click.option("--digest", required=True, help="The artifact digest to admit (sha256:<hex>).")
@click.option("--policy-digest", "policy_digests", multiple=True, metavar="sha256:<hex>",
              help="Admit only under a decision made under a policy with this digest (repeatable).")
@click.option("--max-age", help="Refuse a decision older than this (30d, 12h, 90m, 3600s; a bare number is days).")
@click.option("--allow-extra", multiple=True, metavar="GLOB", help="Let through plain files beside the recorded ones "
              "that match this glob and that the loader never reads, e.g. 'evals/*.json' (repeatable).")
@click.option("--record-to", help="Write a signed deployment record here (a folder, file:// or s3:// prefix).")
@click.option("--record-key", type=EXISTING_FILE,
              help="PEM private key that signs the deployment record (an encrypted key reads its password from "
              "WEIGHTGATE_ATTEST_KEY_PASSWORD).")
@click.option("--service", help="The service loading the model (deployment record).")
@click.option("--environment", help="The environment, e.g. production (deployment record).")
@click.option("--target", "deploy_target", help="The deployment target: cluster, namespace or region.")
@click.option("--host", help="The host or pod loading the model (default: $POD_NAME, else the host name).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files verified in parallel.")
def admit(target: str, records: str, key_path: Path, digest: str, policy_digests: tuple[str, ...],
          max_age: str | None, allow_extra: tuple[str, ...], record_to: str | None, record_key: Path | None,
          service: str | None, environment: str | None, deploy_target: str | None, host: str | None,
          workers: int | None, endpoints: EndpointOptions | None = None) -> None:
    """Admit the files at LOCATION (a folder or mirror URI about to be loaded) only if they are exactly the file
    list of the gate's latest PASSED decision record for DIGEST, signed by --key. Every reason to refuse is
    printed; anything unreadable refuses. Exit 0 admitted, 1 refused, 2 usage or input error."""
    import datetime as dt
    import socket

    from weightgate.admit import AdmitRequest, parse_max_age
    from weightgate.admit import admit as run_admit
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_public_key, load_signer
    from weightgate.inputfiles import read_input
    from weightgate.verify import DEFAULT_WORKERS

    if (record_to is None) != (record_key is None):
        raise click.UsageError("--record-to and --record-key go together")
    if record_to is not None and not (service and environment):
        raise click.UsageError("a deployment record needs --service and --environment")
    try:
        age = parse_max_age(max_age) if max_age is not None else None
    except ValueError as e:
        raise click.UsageError(f"--max-age: {e}") from None
    key = load_public_key(read_input(key_path, MAX_KEY_BYTES, "public key"), str(key_path))
    signer = load_signer(read_input(record_key, MAX_KEY_BYTES, "signing key"), str(record_key)) if record_key else None
    settings = _mirror_settings(endpoints)
    admission = run_admit(AdmitRequest(target, records, key, _digest_argument(digest), policy_digests, age,
                                       allow_extra, settings, workers or DEFAULT_WORKERS))
    for reason in admission.ignored:
        click.echo(shown(f"weightgate: ignored a decision record: {reason}"), err=True)
    if not admission.admitted:
        for problem in admission.problems or ():
            click.echo(shown(f"refused ({problem.refusal.value}): {problem.message}"))
        sys.exit(EXIT_FINDINGS)
    decided = (admission.statement or {}).get("predicate", {}).get("timeVerified")
    click.echo(shown(f"admitted {admission.digest} at {admission.target_uri}: {admission.files} file(s) equal to "
                     f"the PASSED decision of {decided}"))
    if record_to is not None and signer is not None:
        from weightgate.evidence.deployment import Deployment, signed_line
        from weightgate.evidence.records import record_name, write_record

        deployment = Deployment(str(service), str(environment), deploy_target,
                                host or os.environ.get("POD_NAME") or socket.gethostname(),
                                dt.datetime.now(dt.timezone.utc))
        line, stamp = signed_line(admission, deployment, signer)
        written = write_record(record_to, record_name(admission.digest, stamp, deployment.host), line, settings)
        click.echo(shown(f"deployment record: {written}"))
    sys.exit(EXIT_PASS)


def _mirror_settings(endpoints: EndpointOptions | None) -> Any:
    """Mirror settings from the endpoint options alone: admit and trail run without a policy, and every
    location they read is one the operator named on the command line."""
    from weightgate.mirror.settings import EndpointOptions, MirrorSettings

    options = endpoints or EndpointOptions()
    return MirrorSettings(ca_bundle=options.ca_bundle, hf_endpoint=options.hf_endpoint,
                          s3_endpoint=options.s3_endpoint, mlflow_tracking_uri=options.mlflow_tracking_uri)


def _digest_argument(value: str) -> str:
    hex_digest = value.removeprefix("sha256:").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hex_digest):
        raise click.UsageError(f"--digest takes sha256:<64 hex digits>, not {shown(value)!r}")
    return f"sha256:{hex_digest}"


@cli.command("attest-eval")
@click.argument("results", type=EXISTING_FILE)
@click.option("--digest", required=True, help="The artifact digest the results evaluated (sha256:<hex>); must equal "
              "the results' artifact_digest.")
@click.option("--key", "key_path", required=True, type=EXISTING_FILE,
              help="PEM private key that signs the records (ECDSA, Ed25519 or RSA; an encrypted key reads its "
              "password from WEIGHTGATE_ATTEST_KEY_PASSWORD).")
@click.option("--suite", help="Sign only this suite's result (default: every suite in RESULTS).")
@click.option("--artifact", "subject_name", default="artifact", show_default=True,
              help="The artifact id to name as the statement's subject.")
@click.option("-o", "--output", required=True, type=FILE,
              help="Write the signed records here (one JSON line per suite).")
def attest_eval(results: Path, digest: str, key_path: Path, suite: str | None, subject_name: str,
                output: Path) -> None:
    """Sign an eval harness's RESULTS (the eval report JSON) as in-toto test-result statements about the
    artifact DIGEST, DSSE-signed with KEY. Results that do not parse, are malformed, or name another digest are
    refused (exit 2)."""
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_signer
    from weightgate.evidence.eval_attestation import MAX_RESULTS_BYTES, eval_statements, signed_lines
    from weightgate.inputfiles import read_input
    from weightgate.outputs import write_atomic

    data = read_input(results, MAX_RESULTS_BYTES, "eval results")
    statements = eval_statements(data, digest, results.name, suite, subject_name)  # refused before the key is read
    signer = load_signer(read_input(key_path, MAX_KEY_BYTES, "signing key"), str(key_path))
    write_atomic(output, signed_lines(statements, signer))


class InventoryFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@cli.command()
@click.argument("boms", metavar="BOM...", nargs=-1,
                type=EXISTING_FILE)
@click.option("--format", "fmt", type=click.Choice([f.value for f in InventoryFormat]), default="table",
              show_default=True, help="A table, JSON, or CSV (one row per artifact per deployment).")
@click.option("--policy", type=FILE,
              help="Policy whose revalidation_days decides what is overdue (default: built-in, 90 days).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge re-validation age as of this day (default: today).")
@click.option("--fail-on-overdue", is_flag=True,
              help="Exit 1 when any artifact is not validated: overdue for re-validation, or its run did not pass.")
@click.option("--attest", "attest_paths", multiple=True, type=EXISTING_FILE,
              help="Decision records (`check --attest`): count only BOMs they vouch for, with the signed verdicts "
              "(repeatable; needs --key).")
@click.option("--key", "key_path", type=EXISTING_FILE,
              help="PEM public key of the gate's --attest-key, to verify the --attest records.")
@click.option("--deployments", "deployment_sources", multiple=True, metavar="RECORDS",
              help="Instead of BOMs: list what was deployed, from the deployment records `admit` wrote (a folder, "
              "file or mirror URI; repeatable), between --since and --as-of.")
@click.option("--deployment-key", "deployment_keys", multiple=True,
              type=EXISTING_FILE,
              help="PEM public key of admit's --record-key; only records it verifies count (repeatable).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="With --deployments: from this day on.")
def inventory(boms: tuple[Path, ...], fmt: str, policy: Path | None, as_of: datetime.datetime | None,
              fail_on_overdue: bool, attest_paths: tuple[Path, ...], key_path: Path | None,
              deployment_sources: tuple[str, ...] = (), deployment_keys: tuple[Path, ...] = (),
              since: datetime.datetime | None = None) -> None:
    """Which artifacts (by digest) run where: read the ML-BOMs `check --bom` wrote for each deployment and list
    every artifact with its services, environments, targets, owner, approval, last validation and its run's
    verdict, and whether it is overdue for re-validation. The newest BOM of each deployment counts; a BOM
    weightgate did not write (or, with --attest, one no signed record vouches for) is listed apart and never
    replaces one that counts."""
    from weightgate.policy import load_policy
    from weightgate.report.inventory import build_inventory, render_csv, render_json, render_table

    records = _inventory_records(attest_paths, key_path)
    today = as_of.date() if as_of else datetime.date.today()
    if deployment_sources or since:
        _deployment_inventory(boms, deployment_sources, deployment_keys, since, today, InventoryFormat(fmt))
    if not boms:
        raise click.UsageError("give BOM files, or --deployments with deployment records")
    result = build_inventory(boms, load_policy(policy).revalidation_days, today, records=records)
    choice = InventoryFormat(fmt)
    if choice is InventoryFormat.TABLE:
        click.echo(render_table(result), nl=False)
    elif choice is InventoryFormat.JSON:
        click.echo(render_json(result), nl=False)
    elif choice is InventoryFormat.CSV:
        click.echo(render_csv(result), nl=False)
    else:
        _assert_never(choice)
    for apart in result.set_apart:
        click.echo(shown(f"weightgate: not counted: {apart.bom}: {apart.reason}"), err=True)
    for problem in result.problems:  # an incomplete inventory must not look complete
        click.echo(shown(f"weightgate: error: {problem}"), err=True)
    if result.problems:
        sys.exit(EXIT_INPUT_ERROR)
    sys.exit(EXIT_FINDINGS if fail_on_overdue and not all(r.validated for r in result.rows) else EXIT_PASS)


def _inventory_records(attest_paths: tuple[Path, ...], key_path: Path | None) -> list[Any] | None:
    """The decision records that verify with the gate's key (None without --attest: BOMs are judged by form)."""
    if not attest_paths:
        if key_path is not None:
            raise click.UsageError("--key verifies --attest records; give the records too")
        return None
    if key_path is None:
        raise click.UsageError("--attest records are believed only when they verify: give the gate's --key")
    from weightgate.evidence.attestation import MAX_ATTESTATION_BYTES, decision_records
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_public_key
    from weightgate.inputfiles import read_input

    key = load_public_key(read_input(key_path, MAX_KEY_BYTES, "public key"), str(key_path))
    records: list[Any] = []
    for path in attest_paths:
        raw = read_input(path, MAX_ATTESTATION_BYTES, "attestation")
        found, rejected = decision_records(raw.decode("utf-8", errors="replace"), key)
        records += found
        for reason in rejected:
            click.echo(shown(f"weightgate: ignored {path}: {reason}"), err=True)
    return records


def _deployment_inventory(boms: tuple[Path, ...], sources: tuple[str, ...], keys: tuple[Path, ...],
                          since: datetime.datetime | None, today: datetime.date, choice: InventoryFormat) -> NoReturn:
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_public_key
    from weightgate.inputfiles import read_input
    from weightgate.report import deployments

    if boms or not sources or not keys:
        raise click.UsageError("--deployments and --deployment-key go together, without BOM files; --since needs "
                               "--deployments")
    signers = [load_public_key(read_input(k, MAX_KEY_BYTES, "public key"), str(k)) for k in keys]
    window = deployments.deployments_between(sources, signers, since.date() if since else None, today)
    if choice is InventoryFormat.TABLE:
        click.echo(deployments.render_table(window), nl=False)
    elif choice is InventoryFormat.JSON:
        click.echo(deployments.render_json(window), nl=False)
    elif choice is InventoryFormat.CSV:
        click.echo(deployments.render_csv(window), nl=False)
    else:
        _assert_never(choice)
    for problem in window.problems:
        click.echo(shown(f"weightgate: error: {problem}"), err=True)
    sys.exit(EXIT_INPUT_ERROR if window.problems else EXIT_PASS)


class TrailFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


@cli.command()
@_endpoint_options
@click.option("--records", "record_sources", multiple=True, metavar="RECORDS", help="Decision, review, eval and "
              "deployment records: a file, a folder of *.jsonl files, or a mirror URI (repeatable).")
@click.option("--bom", "boms", multiple=True, type=EXISTING_FILE,
              help="ML-BOMs written by `check --bom` (repeatable).")
@click.option("--key", "key_paths", multiple=True, type=EXISTING_FILE,
              help="PEM public key whose records count as verified: the gate's, admit's (repeatable).")
@click.option("--policy", type=FILE,
              help="Policy whose reviewers and eval signers count as verified too.")
@click.option("--artifact", help="Only digests recorded under this artifact id.")
@click.option("--digest", help="Only this artifact digest (sha256:<hex>).")
@click.option("--environment", help="Only digests with a verified deployment to this environment.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in TrailFormat]), default="table",
              show_default=True, help="A table, JSON, or Markdown with a Mermaid timeline (for a job summary).")
def trail(record_sources: tuple[str, ...], boms: tuple[Path, ...], key_paths: tuple[Path, ...], policy: Path | None,
          artifact: str | None, digest: str | None, environment: str | None, fmt: str,
          endpoints: EndpointOptions | None = None) -> None:
    """The audit trail of an artifact (by id or digest) or of an environment: requests and justifications,
    findings, evals, approvals with times and signers, decisions, deployments and the last validation. Records
    no trusted key verifies are shown as claims. Exit 0, or 2 when a source could not be read."""
    from weightgate.evidence.dsse import MAX_KEY_BYTES, load_public_key
    from weightgate.inputfiles import read_input
    from weightgate.report import trail as views
    from weightgate.trail import Selection, load_trail

    if not record_sources and not boms:
        raise click.UsageError("give --records and/or --bom")
    signers = [load_public_key(read_input(k, MAX_KEY_BYTES, "public key"), str(k)) for k in key_paths]
    trust_root = None
    if policy is not None:
        from weightgate.policy import load_policy

        loaded = load_policy(policy)
        signers += loaded.evidence.all_signers
        trust_root = loaded.evidence.trust_root
    selection = Selection(artifact, _digest_argument(digest) if digest else None, environment)
    result = load_trail(record_sources, boms, signers, trust_root, selection, _mirror_settings(endpoints))
    choice = TrailFormat(fmt)
    if choice is TrailFormat.TABLE:
        click.echo(views.render_table(result), nl=False)
    elif choice is TrailFormat.JSON:
        click.echo(views.render_json(result), nl=False)
    elif choice is TrailFormat.MARKDOWN:
        click.echo(views.render_markdown(result), nl=False)
    else:
        _assert_never(choice)
    for problem in result.problems:  # an incomplete trail must not look complete
        click.echo(shown(f"weightgate: error: {problem}"), err=True)
    sys.exit(EXIT_INPUT_ERROR if result.problems else EXIT_PASS)


class _Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler: the run unwinds as on Ctrl-C (a report being written
    is removed, never left half-written) and exits EXIT_TERMINATED."""


def _report_timestamp(reproducible: bool, as_of: datetime.datetime | None) -> datetime.datetime | None:
    """The time reports are stamped with: SOURCE_DATE_EPOCH when set; with --reproducible, 00:00 UTC of the
    day judged; else None (now). It stamps reports only: dates are still judged as of --as-of or today, so an
    old SOURCE_DATE_EPOCH cannot revive an expired waiver or a stale approval."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            if not re.fullmatch(r"[0-9]{1,12}", epoch):
                raise ValueError(epoch)
            return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise click.UsageError(
                f"SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01 UTC, not {epoch!r}") from None
    if not reproducible:
        return None
    day = as_of.date() if as_of else datetime.datetime.now(datetime.timezone.utc).date()
    return datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (callable from tests).

    SIGINT and SIGTERM stop the run cleanly: exit 130 or 143, no traceback, no half-written report. Run as
    the `weightgate` program (argv None), an interrupted run then leaves at once: reads still in flight in
    worker threads would otherwise hold the process until their file ends."""
    handlers = _install_signal_handlers()
    thresholds = gc.get_threshold()
    # A large manifest is millions of small acyclic objects: at CPython's default (a young collection every 700
    # allocations) the collector walked them over and over, ~10 % of an offline check of 10,000 artifacts and
    # more at 20,000 (issue 18). Young collections 15x rarer; restored after, for callers in the same process.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        gc.set_threshold(*thresholds)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if argv is None and code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _install_signal_handlers() -> dict[int, Any]:
    """Our handlers for SIGINT and SIGTERM, returning the ones they replace (only the main thread can)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        # Only the first signal raises: a second Ctrl-C while the run unwinds must not turn a clean stop into
        # a traceback. (The handler stays installed: switching to SIG_IGN here races with pending signals.)
        if stopping:
            return
        stopping.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated

    return {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}


def _run(args: list[str]) -> int:
    verbose = any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)
    try:
        cli.main(args=args, prog_name="weightgate", standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_INPUT_ERROR
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return EXIT_INPUT_ERROR
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("weightgate: interrupted; no report was written half-way", err=True)
        return EXIT_INTERRUPTED
    except _Terminated:
        click.echo("weightgate: terminated (SIGTERM); no report was written half-way", err=True)
        return EXIT_TERMINATED
    except WeightgateError as e:
        # Messages quote manifest text, paths and server answers: escaped, never a workflow command.
        click.echo(shown_lines(f"weightgate: error: {e.diagnostics()}"), err=True)
        return EXIT_INPUT_ERROR
    except Exception as e:
        if verbose:
            log.exception("internal error")
        click.echo(f"weightgate: internal error: {type(e).__name__}: {shown(e)}\n  hint: this is a bug; re-run with -v "
                   "and report it. The gate fails closed.", err=True)
        return EXIT_INPUT_ERROR
    return EXIT_PASS
