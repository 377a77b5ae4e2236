"""The `weightgate` command: parse arguments, call the library, pick reporters, map the outcome to an exit
code. No checking logic lives here."""

from __future__ import annotations

import datetime
import enum
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from weightgate import __version__
from weightgate.errors import WeightgateError
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS

if TYPE_CHECKING:
    from weightgate.mirror.settings import EndpointOptions

log = logging.getLogger("weightgate")


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

        return ConsoleReporter(color=color).render(report)
    if fmt is OutputFormat.JSON:
        from weightgate.report.json import JsonReporter

        return JsonReporter().render(report)
    _assert_never(fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weightgate")
@click.option("-v", "--verbose", count=True, help="Log progress (-v) and show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """weightgate: a supply-chain promotion gate for AI model artifacts."""
    ctx.obj = {"verbose": verbose}
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s",
                        stream=sys.stderr)


def _endpoint_options(command: Callable[..., None]) -> Callable[..., None]:
    """--ca-bundle and the endpoint options (shared by check and pin), handed over as one EndpointOptions."""

    @functools.wraps(command)
    def wrapper(*args: Any, ca_bundle: Path | None, hf_endpoint: str | None, s3_endpoint: str | None,
                mlflow_tracking_uri: str | None, **kwargs: Any) -> None:
        from weightgate.mirror.settings import EndpointOptions

        command(*args, endpoints=EndpointOptions(ca_bundle, hf_endpoint, s3_endpoint, mlflow_tracking_uri), **kwargs)

    options = (
        click.option("--ca-bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="PEM file of the CA that signs internal mirrors (TLS is always verified)."),
        click.option("--hf-endpoint", help="Internal Hugging Face-compatible endpoint for hf:// mirrors."),
        click.option("--s3-endpoint", help="S3-compatible endpoint for s3:// mirrors (default: AWS_ENDPOINT_URL)."),
        click.option("--mlflow-tracking-uri", help="MLflow tracking server for models:/ mirrors."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@cli.command()
@_endpoint_options
@click.argument("manifests", metavar="MANIFEST...", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), help="Policy file (default: built-in).")
@click.option("--mirror", help="Mirror base (directory or URI) for relative artifact mirrors; overrides "
              "the manifest's mirror_base.")
@click.option("--sarif", "sarif_path", type=click.Path(path_type=Path, dir_okay=False), help="Write SARIF 2.1.0.")
@click.option("--bom", "bom_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a CycloneDX 1.6 ML-BOM.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON report to a file.")
@click.option("--gitlab-codequality", "codequality_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a GitLab Code Quality report (artifacts:reports:codequality).")
@click.option("--github/--no-github", default=None, help="Write a GitHub job summary, annotations and step "
              "outputs (default: when GITHUB_ACTIONS=true).")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="console",
              show_default=True, help="Format of the report on standard output.")
@click.option("--offline", is_flag=True, help="Only checks that need no artifact bytes (fast; for pre-commit).")
@click.option("--registry", type=click.Path(path_type=Path, dir_okay=False),
              help="File-based model registry (registry.yaml) to check registry_entry fields against; overrides "
              "the policy's registry.file.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]),
              help="Lowest level that fails the gate (default: the policy's fail_on).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files verified in parallel.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge dates (approvals, re-validation, waivers) as of this day, e.g. for an audit.")
@click.option("--source-root", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="Paths in reports are relative to this (the repository root).", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on standard output; rely on the exit code.")
def check(manifests: tuple[Path, ...], policy: Path | None, mirror: str | None, sarif_path: Path | None,
          bom_path: Path | None, json_path: Path | None, codequality_path: Path | None, github: bool | None,
          fmt: str, offline: bool, fail_on: str | None, workers: int | None, as_of: datetime.datetime | None,
          source_root: Path, quiet: bool, registry: Path | None = None,
          endpoints: EndpointOptions | None = None) -> None:
    """Check deployment MANIFESTs against a policy, re-hashing every pinned file from its mirror.

    Several manifests (as pre-commit passes them) are checked one after the other; report files then take
    one manifest at a time."""
    from weightgate.gate import CheckOptions, run_check
    from weightgate.mirror.settings import EndpointOptions
    from weightgate.policy import FailOn
    from weightgate.verify import DEFAULT_WORKERS

    if len(manifests) > 1 and (sarif_path or bom_path or json_path or codequality_path or fmt != "console"):
        raise click.UsageError("--sarif, --bom, --json, --gitlab-codequality and --format json take one manifest")
    reports = [run_check(CheckOptions(
        manifest=manifest, policy=policy, mirror=mirror, offline=offline,
        fail_on=FailOn(fail_on) if fail_on else None, workers=workers or DEFAULT_WORKERS,
        today=as_of.date() if as_of else None, source_root=source_root, registry=registry,
        endpoints=endpoints or EndpointOptions(),
    )) for manifest in manifests]
    _write_reports(reports[0], sarif_path, bom_path, json_path, codequality_path)
    in_github = github if github is not None else os.environ.get("GITHUB_ACTIONS") == "true"
    if not quiet:
        text = "".join(_render(OutputFormat(fmt), report, color=sys.stdout.isatty()) for report in reports)
        click.echo(_shielded(text) if in_github and fmt == "console" else text, nl=False)
    if in_github:
        from weightgate.report.github import publish

        click.echo(publish(reports, os.environ, sarif_path, bom_path), nl=False)
    sys.exit(EXIT_FINDINGS if any(report.failed for report in reports) else EXIT_PASS)


@cli.command()
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), help="Policy file (default: built-in).")
@click.option("--sarif", "sarif_path", type=click.Path(path_type=Path, dir_okay=False), help="Write SARIF 2.1.0.")
@click.option("--bom", "bom_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a CycloneDX 1.6 ML-BOM of the scanned files.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON report to a file.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="console",
              show_default=True, help="Format of the report on standard output.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]),
              help="Lowest level that fails the scan (default: the policy's fail_on).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files read in parallel.")
@click.option("--source-root", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="Paths in reports are relative to this (the repository root).", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on standard output; rely on the exit code.")
def scan(paths: tuple[Path, ...], policy: Path | None, sarif_path: Path | None, bom_path: Path | None,
         json_path: Path | None, fmt: str, fail_on: str | None, workers: int | None, source_root: Path,
         quiet: bool) -> None:
    """Scan model files and folders (recursively) with the content inspectors; no manifest needed.

    Exit 0 clean, 1 findings at or above the fail level, 2 usage or input error, 3 nothing found to scan.
    Usable as a pre-commit hook: `weightgate scan FILE...`."""
    from weightgate.exitcodes import EXIT_NOTHING_CHECKED
    from weightgate.policy import FailOn
    from weightgate.scan import ScanOptions, run_scan
    from weightgate.verify import DEFAULT_WORKERS

    report = run_scan(ScanOptions(paths=paths, policy=policy, fail_on=FailOn(fail_on) if fail_on else None,
                                  workers=workers or DEFAULT_WORKERS, source_root=source_root))
    if not report.scanned:
        click.echo(f"weightgate: no files found to scan in {', '.join(map(str, paths))}", err=True)
        sys.exit(EXIT_NOTHING_CHECKED)
    _write_reports(report, sarif_path, bom_path, json_path, None)
    if not quiet:
        click.echo(_render(OutputFormat(fmt), report, color=sys.stdout.isatty()), nl=False)
    sys.exit(EXIT_FINDINGS if report.failed else EXIT_PASS)


def _shielded(text: str) -> str:
    """The console report between `::stop-commands::` markers, so that manifest text in it cannot pose as a
    GitHub workflow command."""
    from weightgate.report.github import stop_commands_token

    token = stop_commands_token()
    return f"::stop-commands::{token}\n{text}::{token}::\n"


def _write_reports(report: object, sarif_path: Path | None, bom_path: Path | None, json_path: Path | None,
                   codequality_path: Path | None) -> None:
    from weightgate.outputs import write_atomic
    from weightgate.report.interface import Report

    assert isinstance(report, Report)
    if sarif_path:
        from weightgate.report.sarif import SarifReporter

        write_atomic(sarif_path, SarifReporter().render(report))
    if bom_path:
        from weightgate.report.cyclonedx import CycloneDxReporter

        write_atomic(bom_path, CycloneDxReporter().render(report))
    if json_path:
        write_atomic(json_path, _render(OutputFormat.JSON, report, color=False))
    if codequality_path:
        from weightgate.report.gitlab import GitlabCodeQualityReporter

        write_atomic(codequality_path, GitlabCodeQualityReporter().render(report))


class LineageFormat(str, enum.Enum):
    TEXT = "text"
    MERMAID = "mermaid"


@cli.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
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
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), help="Policy file (default: built-in).")
@click.option("--mirror", help="Mirror base (directory or URI) for relative artifact mirrors.")
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
        click.echo(line, err=True)
    if show_diff:
        click.echo(result.diff(), nl=False)
    if result.changed and not check_only:
        write_atomic(manifest, result.updated)
    if check_only and result.changed:
        click.echo(f"{manifest}: not pinned ({len(result.changes)} change(s) needed)", err=True)
    sys.exit(EXIT_FINDINGS if result.problems or (check_only and result.changed) else EXIT_PASS)


@cli.command()
@click.argument("name", type=click.Choice(["manifest", "policy", "default-policy"]))
def schema(name: str) -> None:
    """Print the manifest or policy JSON Schema, or the built-in default policy."""
    if name == "default-policy":
        from weightgate.policy import default_policy_text

        click.echo(default_policy_text(), nl=False)
        return
    from weightgate.jsonschemas import schema_text

    click.echo(schema_text("manifest" if name == "manifest" else "policy"), nl=False)


@cli.command("rules")
@click.option("--markdown", is_flag=True, help="Print docs/rules.md instead of the table.")
def rules_command(markdown: bool) -> None:
    """List every rule with its id, severity and what it catches."""
    from weightgate.rulesdoc import rule_lines, rules_markdown

    click.echo(rules_markdown() if markdown else rule_lines(), nl=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (callable from tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
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
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except WeightgateError as e:
        click.echo(f"weightgate: error: {e.diagnostics()}", err=True)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as e:
        if verbose:
            log.exception("internal error")
        click.echo(f"weightgate: internal error: {type(e).__name__}: {e}\n  hint: this is a bug; re-run with -v "
                   "and report it. The gate fails closed.", err=True)
        return EXIT_INPUT_ERROR
    return EXIT_PASS
