"""Intervals counted in images seen: the counter jumps by the batch size, so never test `step % n`."""

from __future__ import annotations


class Every:
    """Fires once each time `cur_nimg` passes another multiple-of-`kimg` boundary (0 disables it)."""

    def __init__(self, kimg: float, cur_nimg: int = 0) -> None:
        self.nimg = round(kimg * 1000)
        self.last = self._bucket(cur_nimg)

    def _bucket(self, cur_nimg: int) -> int:
        return cur_nimg // self.nimg if self.nimg > 0 else 0

    def due(self, cur_nimg: int) -> bool:
        """True when a boundary was crossed since the last call that returned True."""
        if self.nimg <= 0:
            return False
        b = self._bucket(cur_nimg)
        if b > self.last:
            self.last = b
            return True
        return False


def kimg_label(cur_nimg: int) -> str:
    """File-name label for a point in training: kimg with 3 decimals, zero-padded so names sort."""
    return f"{cur_nimg / 1000:010.3f}"
