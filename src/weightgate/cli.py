"""The `weightgate` command: parse arguments, call the library, pick reporters, map the outcome to an exit
code. No checking logic lives here."""

from __future__ import annotations

import datetime
import enum
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from weightgate import __version__
from weightgate.errors import WeightgateError
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS

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


@cli.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), help="Policy file (default: built-in).")
@click.option("--mirror", help="Mirror base (directory or URI) for relative artifact mirrors; overrides "
              "the manifest's mirror_base.")
@click.option("--sarif", "sarif_path", type=click.Path(path_type=Path, dir_okay=False), help="Write SARIF 2.1.0.")
@click.option("--bom", "bom_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a CycloneDX 1.6 ML-BOM.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON report to a file.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="console",
              show_default=True, help="Format of the report on standard output.")
@click.option("--offline", is_flag=True, help="Only checks that need no artifact bytes (fast; for pre-commit).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]),
              help="Lowest level that fails the gate (default: the policy's fail_on).")
@click.option("--workers", type=click.IntRange(1, 64), help="Files verified in parallel.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge dates (approvals, re-validation, waivers) as of this day, e.g. for an audit.")
@click.option("--source-root", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="Paths in reports are relative to this (the repository root).", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on standard output; rely on the exit code.")
def check(manifest: Path, policy: Path | None, mirror: str | None, sarif_path: Path | None,
          bom_path: Path | None, json_path: Path | None, fmt: str, offline: bool, fail_on: str | None,
          workers: int | None, as_of: datetime.datetime | None, source_root: Path, quiet: bool) -> None:
    """Check a deployment MANIFEST against a policy, re-hashing every pinned file from its mirror."""
    from weightgate.gate import CheckOptions, run_check
    from weightgate.outputs import write_atomic
    from weightgate.policy import FailOn
    from weightgate.verify import DEFAULT_WORKERS

    report = run_check(CheckOptions(
        manifest=manifest, policy=policy, mirror=mirror, offline=offline,
        fail_on=FailOn(fail_on) if fail_on else None, workers=workers or DEFAULT_WORKERS,
        today=as_of.date() if as_of else None, source_root=source_root,
    ))
    if sarif_path:
        from weightgate.report.sarif import SarifReporter

        write_atomic(sarif_path, SarifReporter().render(report))
    if bom_path:
        from weightgate.report.cyclonedx import CycloneDxReporter

        write_atomic(bom_path, CycloneDxReporter().render(report))
    if json_path:
        write_atomic(json_path, _render(OutputFormat.JSON, report, color=False))
    if not quiet:
        click.echo(_render(OutputFormat(fmt), report, color=sys.stdout.isatty()), nl=False)
    sys.exit(EXIT_FINDINGS if report.failed else EXIT_PASS)


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
