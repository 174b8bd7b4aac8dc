"""Reading a stage's parquet manifest back, checked against its schema (the one place that does it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def read_columns(path: str | Path, schema: Any, columns: Sequence[str] | None = None) -> Any:
    """The given columns (default: all of `schema`) of a parquet manifest as a pyarrow Table, checked
    against `schema`; SchemaError when a column is missing, extra or of the wrong type, OSError when
    the file cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.validate import SchemaError, validate_table

    cols = list(columns) if columns is not None else None
    try:
        table = pq.read_table(path, columns=cols)
    except (pa.ArrowInvalid, KeyError) as e:
        raise SchemaError(str(e)) from e
    sub = pa.schema([schema.field(c) for c in cols]) if cols is not None else schema
    return validate_table(table, sub, where=str(path))
