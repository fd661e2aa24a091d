"""Validate request bodies, query strings and path parameters against their JSON Schemas.

Uses :data:`qandu.schemas.Validator` (short, client-safe messages naming the field) plus
``dependentRequired`` reported on the missing field.  Problems raise
:class:`~qandu.errors.InvalidRequest` (422) with ``field`` set to the dotted path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import ValidationError, validators

from qandu.errors import InvalidRequest
from qandu.schemas import Validator, find_problem


def _dependent_required(
    validator: Any, dependencies: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name, needed in dependencies.items():
            if name in instance:
                for other in needed:
                    if other not in instance:
                        yield ValidationError(f"required together with {name}", path=[other])


HttpValidator = validators.extend(Validator, {"dependentRequired": _dependent_required})


class Check:
    """A validator compiled once for ``schema``; calling it raises InvalidRequest on a problem."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        HttpValidator.check_schema(schema)
        self.schema = schema
        self._validator = HttpValidator(schema)

    def __call__(self, instance: Any) -> None:
        problem = find_problem(self._validator, instance)
        if problem is not None:
            raise InvalidRequest(problem.message, field=problem.field)


_INTEGER = re.compile(r"-?[0-9]{1,20}")


def coerce_query(schema: Mapping[str, Any], params: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn query parameters into the object ``schema`` describes (integers parsed).

    A repeated parameter is an error; a value that does not parse stays a string, so the
    schema reports it ("limit: expected an integer, got "x"").
    """
    properties = schema.get("properties", {})
    values: dict[str, Any] = {}
    for name, raw in params:
        if name in values:
            raise InvalidRequest(f"{name}: given more than once", field=name)
        kind = properties.get(name, {}).get("type")
        if kind == "integer" and _INTEGER.fullmatch(raw):
            values[name] = int(raw)
        elif kind == "boolean" and raw in ("true", "false"):
            values[name] = raw == "true"
        else:
            values[name] = raw
    return values


def apply_defaults(schema: Mapping[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Fill in the ``default`` of every property that was not given."""
    for name, sub in schema.get("properties", {}).items():
        if name not in values and "default" in sub:
            values[name] = sub["default"]
    return values
