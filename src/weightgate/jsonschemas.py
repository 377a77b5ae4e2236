"""The public JSON Schemas (manifest, policy, JSON report) and readable validation messages."""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
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


# A manifest of thousands of artifacts spent a third of an offline check in jsonschema's generic walk (issue 18). A
# validator compiled from the same schema (fastjsonschema, draft-07: the manifest schema keeps to keywords both
# drafts read alike, and a test holds it to that) says "valid" ~15x faster; it only ever confirms. Whenever it
# refuses, jsonschema decides and words every error, so verdicts and messages are always jsonschema's. Compiling
# costs ~50 ms, so small documents go straight to jsonschema.
FAST_PATH_MIN_ITEMS = 200
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(value: Any) -> bool:
    """The `date` format as jsonschema checks it (its FormatChecker: the pattern, then a real calendar day)."""
    if not isinstance(value, str):
        return True
    try:
        return bool(_DATE.fullmatch(value)) and bool(datetime.date.fromisoformat(value))
    except ValueError:
        return False


@functools.cache
def _fast_validator(name: SchemaName) -> Callable[[Any], Any]:
    import fastjsonschema

    schema = json.loads(schema_text(name))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema, formats={"date": _is_date})


def fast_valid(name: SchemaName, data: Any) -> bool:
    """True when the compiled validator accepts `data` (which jsonschema then accepts too); False says nothing."""
    import fastjsonschema

    try:
        _fast_validator(name)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _large(name: SchemaName, data: Any) -> bool:
    return name == "manifest" and isinstance(data, dict) and isinstance(data.get("artifacts"), list) \
        and len(data["artifacts"]) >= FAST_PATH_MIN_ITEMS


def schema_errors(name: SchemaName, data: Any) -> list[tuple[PathKey, str]]:
    """Every schema error as (path of the offending node, readable message), in document order."""
    if _large(name, data) and fast_valid(name, data):
        return []
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
