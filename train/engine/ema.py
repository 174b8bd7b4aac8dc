"""Exponential moving average of a model's weights, with the half-life given in images (StyleGAN-style)."""

from __future__ import annotations

from typing import Any


def ema_beta(batch: int, cur_nimg: int, ema_kimg: float, rampup: float | None = 0.05) -> float:
    """Decay per step so that the average halves every `ema_kimg` thousand images.

    With `rampup`, the half-life is at most `rampup * cur_nimg`, so that early averages do not
    drag along the random initialisation.
    """
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    if ema_nimg <= 0:
        return 0.0
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


def update_ema(ema: Any, model: Any, beta: float) -> None:
    """ema = beta * ema + (1 - beta) * model for parameters; buffers (BatchNorm statistics) are copied."""
    import torch

    with torch.no_grad():
        e_params = list(ema.parameters())
        m_params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(e_params, m_params, 1.0 - beta)
        for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)
