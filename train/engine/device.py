"""Device and numeric precision: `--device auto|cpu|cuda`, `--precision auto|bf16|fp32`."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from core.errors import UserError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(choice: str) -> str:
    """'auto' picks CUDA when available; asking for CUDA without one is a UserError."""
    import torch

    if choice not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, not {choice!r}")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch; use --device cpu (or auto)")
    return choice


def resolve_precision(choice: str, device: str) -> str:
    """'auto' is bf16 on CUDA and fp32 on CPU (bf16 autocast on CPU works but is rarely faster)."""
    import torch

    if choice not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, not {choice!r}")
    if choice == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    if choice == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        warnings.warn("this GPU does not support bf16: falling back to fp32", stacklevel=2)
        return "fp32"
    if choice == "bf16" and device == "cpu":
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                torch.ones(2, 2) @ torch.ones(2, 2)
        except RuntimeError:
            warnings.warn("bf16 autocast does not work on this CPU: falling back to fp32", stacklevel=2)
            return "fp32"
    return choice


def autocast(device: str, precision: str) -> Any:
    """The forward-pass context: bf16 autocast, or nothing for fp32 (bf16 needs no grad scaler)."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def for_inference(net: Any, device: str) -> Any:
    """`net` in eval mode, laid out for fast inference: on the CPU its 4-D weights in channels_last
    order, which lets oneDNN pick its blocked convolutions (about twice as fast for the DCGAN and the
    tagger at 96 px: `bench/bench_demo.py --parts layout`); on CUDA unchanged."""
    import torch

    net.eval()
    if device == "cpu":
        net.to(memory_format=torch.channels_last)
    return net


def inference_batch(batch: int, device: str) -> int:
    """`--batch 0` (auto): 32 images per forward pass on the CPU (they stay in its caches), 256 on a GPU."""
    return batch if batch > 0 else (32 if device == "cpu" else 256)
