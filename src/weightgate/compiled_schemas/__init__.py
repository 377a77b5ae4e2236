"""Validators compiled from the schemas by scripts/compile-schemas (see weightgate.jsonschemas)."""
