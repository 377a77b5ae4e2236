"""The public JSON Schemas (manifest, policy, JSON report) and readable validation messages."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

from weightgate.yamlsource import PathKey

SchemaName = Literal["manifest", "policy", "report", "approval", "deployment"]


def schema_text(name: SchemaName) -> str:
    beside = Path(__file__).with_name("schemas") / f"{name}.schema.json"
    if beside.is_file():  # an installed package: importlib.resources (tempfile, zipfile...) costs start-up time
        return beside.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("weightgate").joinpath(f"schemas/{name}.schema.json").read_text(encoding="utf-8")


@functools.cache
def _validator(name: SchemaName) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(json.loads(schema_text(name)), format_checker=FormatChecker())


def schema_errors(name: SchemaName, data: Any) -> list[tuple[PathKey, str]]:
    """Every schema error as (path of the offending node, readable message), in document order."""
    errors = []
    for error in _validator(name).iter_errors(data):
        # oneOf/anyOf errors are clearer from their best sub-error.
        if error.context:
            from jsonschema.exceptions import best_match

            error = best_match(error.context)
        errors.append((tuple(error.absolute_path), _message(error)))
    return sorted(set(errors), key=lambda e: (str(e[0]), e[1]))


def _message(error: Any) -> str:
    validator, value = error.validator, error.instance
    if validator == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return f"missing required field {', '.join(repr(k) for k in missing)}"
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed and not k.startswith("x-"))
        return f"unknown field {', '.join(repr(k) for k in extra)} (allowed: {', '.join(allowed)})"
    if validator == "type" and error.validator_value == "string" and isinstance(value, (int, float)):
        return f"{value!r} must be a string: quote it in YAML so it is not read as a number"
    if validator == "enum":
        return f"{value!r} is not one of: {', '.join(map(str, error.validator_value))}"
    if validator == "const":
        return f"must be {error.validator_value!r}, not {value!r}"
    if validator == "format":
        return f"{value!r} is not a valid {error.validator_value} (use YYYY-MM-DD)"
    return str(error.message)
