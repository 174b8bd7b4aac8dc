"""Validation of manifests (pyarrow tables / parquet files) and of shard sample JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


class SchemaError(ValueError):
    """A manifest or sample does not match its schema."""


def validate_table(table: pa.Table | Any, schema: pa.Schema, where: str = "table") -> pa.Table:
    """Check columns, types and non-null fields; returns the table cast to `schema`'s column order.

    Accepts a pyarrow Table or a pandas DataFrame. Extra columns are an error, so that a manifest
    never silently grows fields the schema (and docs/data-format.md) does not know.
    """
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    names = set(table.column_names)
    expected = set(schema.names)
    if missing := sorted(expected - names):
        raise SchemaError(f"{where}: missing columns {missing}")
    if extra := sorted(names - expected):
        raise SchemaError(f"{where}: unexpected columns {extra}")
    table = table.select(schema.names)
    for field in schema:
        col = table.column(field.name)
        if not col.type.equals(field.type) and not (pa.types.is_null(col.type) and field.nullable):
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaError(
                    f"{where}: column {field.name!r} is {col.type}, expected {field.type}"
                ) from e
        if not field.nullable and col.null_count:
            raise SchemaError(f"{where}: column {field.name!r} has {col.null_count} nulls")
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SchemaError(f"{where}: {e}") from e


def validate_parquet(path: str | Path, schema: pa.Schema) -> pa.Table:
    """Read a parquet file and validate it against `schema`."""
    import pyarrow.parquet as pq

    return validate_table(pq.read_table(path), schema, where=str(path))


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def validate_sample_json(obj: Any, spec: dict[str, str], where: str = "sample") -> dict[str, Any]:
    """Check a sample's JSON against a field spec such as `{"post_id": "int", "tags": "list[str]"}`.

    A type ending in `?` may be null. `list[T]` checks every element. Unknown keys are an error.
    """
    if not isinstance(obj, dict):
        raise SchemaError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if extra := sorted(set(obj) - set(spec)):
        raise SchemaError(f"{where}: unexpected fields {extra}")
    for name, typ in spec.items():
        if name not in obj:
            raise SchemaError(f"{where}: missing field {name!r}")
        _check_value(obj[name], typ, f"{where}.{name}")
    return obj


def _check_value(value: Any, typ: str, where: str) -> None:
    if typ.endswith("?"):
        if value is None:
            return
        typ = typ[:-1]
    if typ.startswith("list[") and typ.endswith("]"):
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list, got {type(value).__name__}")
        for i, v in enumerate(value):
            _check_value(v, typ[5:-1], f"{where}[{i}]")
        return
    allowed = _PY_TYPES.get(typ)
    if allowed is None:
        raise SchemaError(f"{where}: unknown type {typ!r} in spec")
    if (isinstance(value, bool) and typ != "bool") or not isinstance(value, allowed):
        raise SchemaError(f"{where}: expected {typ}, got {type(value).__name__}")
