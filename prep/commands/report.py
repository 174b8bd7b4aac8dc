"""`prep report` (placeholder until the report is built)."""

from __future__ import annotations

from prep.errors import UserError


def main() -> None:
    """Not built yet."""
    raise UserError("prep report is not built yet")
