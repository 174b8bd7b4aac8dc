"""`train sample` (placeholder until the trainer is built)."""

from __future__ import annotations

from prep.errors import UserError


def main() -> None:
    """Not built yet."""
    raise UserError("train sample is not built yet")
