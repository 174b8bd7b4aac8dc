"""`prep sample-site` (placeholder until the stage is built)."""

from __future__ import annotations

from prep.errors import UserError


def main() -> None:
    """Not built yet."""
    raise UserError("prep sample-site is not built yet")
