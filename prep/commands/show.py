"""`prep show` (placeholder until the stage is built)."""

from __future__ import annotations

from prep.errors import UserError


def main() -> None:
    """Not built yet."""
    raise UserError("prep show is not built yet")
