"""Non-finite loss guard: records the first bad step on the device and is checked at each tick.

Checking `loss.item()` every step would stall the GPU; instead a device tensor remembers the first
step whose loss was NaN/inf, and the host reads it only when it syncs anyway (ticks, snapshots).
"""

from __future__ import annotations

from typing import Any


class NonFiniteGuard:
    def __init__(self, device: str) -> None:
        import torch

        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, step: int, *losses: Any) -> None:
        """Record `step` if any loss is non-finite and no earlier step was."""
        import torch

        ok = torch.stack([torch.isfinite(x.detach().float()).all() for x in losses]).all()
        mark = (~ok) & (self.first_bad < 0)
        self.first_bad = torch.where(mark, torch.full_like(self.first_bad, step), self.first_bad)

    def bad_step(self) -> int | None:
        """The first step with a non-finite loss, or None (this syncs with the device)."""
        v = int(self.first_bad.item())
        return None if v < 0 else v
