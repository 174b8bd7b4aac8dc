"""`prep verify` (placeholder until the stage is built)."""

from __future__ import annotations

from prep.errors import UserError


def main() -> None:
    """Not built yet."""
    raise UserError("prep verify is not built yet")
