"""`prep repro`, `prep status`, `prep dag` (placeholders until the stage runner is built)."""

from __future__ import annotations

from prep.errors import UserError


def repro() -> None:
    """Not built yet."""
    raise UserError("prep repro is not built yet")


def status() -> None:
    """Not built yet."""
    raise UserError("prep status is not built yet")


def dag() -> None:
    """Not built yet."""
    raise UserError("prep dag is not built yet")
