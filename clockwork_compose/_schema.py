"""Structural validation of what we emit, against the Compose specification's JSON schema.

The schema is the one check-jsonschema vendors (kept current by its maintainers); we do
not copy it. jsonschema-rs validates it: a 1,000-service file in milliseconds, where the
pure-Python validator took seconds. Relationship checks (targets exist, cycles, host ports)
live in ``_lower``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from ._errors import ClockworkError, DeclarationError


@functools.cache
def _validator() -> Any:
    import jsonschema_rs

    schema = json.loads(_schema_path().read_text(encoding="utf-8"))
    # The draft the schema names (2020-12): Draft 7 ignored its unevaluatedProperties, so a
    # key Compose does not know (the escape hatch's, say) passed.
    return jsonschema_rs.validator_for(schema)


def _schema_path() -> Path:
    # Located without importing check_jsonschema: its package import loads its whole CLI.
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or spec.origin is None:
        raise ClockworkError("check-jsonschema is not installed: pip install check-jsonschema")
    return Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"


def validate(document: dict[str, Any]) -> None:
    """Raise DeclarationError naming the service and field of the first schema violation."""
    validator = _validator()
    if validator.is_valid(document):
        return
    errors = list(validator.iter_errors(document))
    # A wrong value also leaves its siblings "unevaluated": name the wrong value itself.
    specific = [e for e in errors if not e.message.startswith("Unevaluated properties")] or errors
    error = min(specific, key=lambda e: [str(p) for p in e.instance_path])
    path = [str(p) for p in error.instance_path]
    resource = path[1] if len(path) > 1 and path[0] == "services" else None
    field = ".".join(path[2:] if resource else path) or None
    raise DeclarationError(
        resource, field, f"the Compose specification rejects it: {error.message}", "fix this value in main.py"
    )
