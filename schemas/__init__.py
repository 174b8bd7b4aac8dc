"""Schemas of every manifest (pyarrow) and every shard sample's JSON the project writes, and their validator.

Each stage has its own module (`schemas.crawl`, `schemas.faces`, ...) defining `*_SCHEMA` pyarrow
schemas for its parquet manifests and `*_SAMPLE` field specs for its shard JSON. Stages call
`validate_table` before writing and tests call it on what they read back.
"""

from schemas.validate import SchemaError, validate_parquet, validate_sample_json, validate_table

__all__ = ["SchemaError", "validate_parquet", "validate_sample_json", "validate_table"]
