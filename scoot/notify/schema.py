"""Result checks: a job's final answer must be JSON valid against its schema.

jsonschema is imported here only, and only when a job sets expect_schema.
The check runs in the parent: the worker's word about its own answer is not
what decides the run's status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INVALID_RESULT = "invalid_result"
MAX_SCHEMA_BYTES = 1024 * 1024


def load_schema(root: Path, relative: str) -> tuple[dict[str, Any] | bool | None, str | None]:
    """Read and check the schema file `relative` (to the runtime directory)."""
    path = (root / relative) if not relative.startswith("/") else Path(relative)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SCHEMA_BYTES + 1)
    except OSError as exc:
        return None, f"expect_schema {relative!r}: cannot read {path} ({exc.strerror})"
    if len(raw) > MAX_SCHEMA_BYTES:
        return None, f"expect_schema {relative!r}: larger than {MAX_SCHEMA_BYTES} bytes"
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, f"expect_schema {relative!r}: not JSON ({exc}); fix {path}"
    if not isinstance(schema, dict | bool):
        return None, f"expect_schema {relative!r}: a schema is a JSON object"
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    try:
        # true and false are schemas too; the stubs know only objects.
        validators.validator_for(schema).check_schema(schema)  # type: ignore[arg-type]
    except SchemaError as exc:
        return None, f"expect_schema {relative!r}: not a valid JSON Schema ({exc.message})"
    return schema, None


def result_problem(schema: dict[str, Any] | bool, answer: str | None) -> str | None:
    """Why `answer` does not satisfy `schema`, in one line, or None when it does."""
    try:
        value = json.loads(answer or "")
    except (ValueError, RecursionError) as exc:
        return f"the answer is not JSON ({exc}); expect_schema needs a JSON answer"
    from jsonschema import validators

    validator = validators.validator_for(schema)(schema)
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"the answer does not match expect_schema at {where}: {error.message}"
