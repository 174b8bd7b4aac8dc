"""What the demo server draws: a face from a page state (seed, noise strength, slider values), a face
between two pinned states, and colourised drawings. Every z comes from `train.directions.latent`.

A state is a URL query, as the page writes it into its address bar:
    seed=123&noise=1&blue_hair=1.5&smile=-0.5
Bad values raise `BadRequest` (the server answers 400 with the message).
"""

from __future__ import annotations

import io
import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from train.directions import latent

SEED_MAX = 2**32 - 1
NOISE_MAX = 2.0
TAG_MAX = 5.0
SLIDER = (-2.0, 2.0, 0.1)
"""Tag sliders: min, max, step (the directions page shows the same -2..+2)."""
RESERVED = ("seed", "noise")


class BadRequest(ValueError):
    """A request the server answers with 400 and this message."""


@dataclass
class State:
    seed: int
    noise: float
    strengths: np.ndarray  # [T], in the studio's tag order


def _number(name: str, text: str, lo: float, hi: float) -> float:
    try:
        v = float(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise BadRequest(f"{name}={text!r} is outside {lo:g}..{hi:g}")
    return v


def single(query: str) -> dict[str, str]:
    """A query string as {name: value}; a repeated name is a BadRequest."""
    out: dict[str, str] = {}
    for k, vs in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if len(vs) != 1:
            raise BadRequest(f"{k} is given {len(vs)} times")
        out[k] = vs[0]
    return out


class Studio:
    """The generator, its directions and (optionally) a colorizer, ready to draw."""

    def __init__(self, ckpt: str | Path, directions: Any | None, colorizer: str | Path | None = None,
                 device: str = "cpu") -> None:  # fmt: skip
        import torch

        from train.dcgan import load_generator

        self.g, opts = load_generator(ckpt, device)
        self.device, self.nz, self.size = device, int(opts["nz"]), int(opts["size"])
        self.tags: list[str] = [t for t in (directions.tags if directions else []) if t not in RESERVED]
        keep = [directions.tags.index(t) for t in self.tags] if directions else []
        self.vectors = directions.vectors[keep] if directions else np.zeros((0, self.nz), np.float32)
        self.colorizer = str(colorizer) if colorizer else None
        self.colorizer_tags: list[str] = _colorizer_tags(colorizer, device) if colorizer else []
        self.lock = threading.Lock()  # one forward pass at a time: the CPU has few cores anyway
        self._torch = torch

    # -- states --------------------------------------------------------------------------------
    def state(self, params: dict[str, str]) -> State:
        """A State from query parameters (seed and noise default to 0 and 1, sliders to 0)."""
        seed = params.get("seed", "0")
        if not seed.isdigit() or int(seed) > SEED_MAX:
            raise BadRequest(f"seed={seed!r} is not an integer in 0..{SEED_MAX}")
        noise = _number("noise", params.get("noise", "1"), 0.0, NOISE_MAX)
        unknown = sorted(set(params) - set(RESERVED) - set(self.tags))
        if unknown:
            known = ", ".join(self.tags) or "none: start the demo with --directions"
            raise BadRequest(f"no slider for {', '.join(unknown)}; sliders: {known}")
        s = np.array([_number(t, params[t], -TAG_MAX, TAG_MAX) if t in params else 0.0 for t in self.tags],
                     dtype=np.float32)  # fmt: skip
        return State(int(seed), noise, s)

    def z(self, st: State) -> np.ndarray:
        return latent.face(st.seed, st.noise, self.nz, self.vectors, st.strengths)

    # -- drawing -------------------------------------------------------------------------------
    def render(self, z: np.ndarray) -> bytes:
        """PNG of the face at z [nz]."""
        torch = self._torch
        with self.lock, torch.no_grad():
            x = self.g(torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None].to(self.device))
        img = ((x[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        return png(img)

    def sample_png(self, query: str) -> bytes:
        return self.render(self.z(self.state(single(query))))

    def mix_png(self, query: str) -> bytes:
        """`t=0.3&a=<state query>&b=<state query>`: the face between pins a and b."""
        p = single(query)
        for k in ("a", "b"):
            if k not in p:
                raise BadRequest(f"mix needs a={'{state}'} and b={'{state}'}; {k} is missing")
        extra = sorted(set(p) - {"a", "b", "t"})
        if extra:
            raise BadRequest(f"mix takes a, b and t, not {', '.join(extra)}")
        t = _number("t", p.get("t", "0.5"), 0.0, 1.0)
        za, zb = self.z(self.state(single(p["a"]))), self.z(self.state(single(p["b"])))
        return self.render(latent.mix(za, zb, t))

    def colorize_png(self, line: bytes, hints: bytes | None, tags: list[str]) -> bytes:
        """Colour an uploaded drawing with `train colorize`'s own entry point (`colorize_file`)."""
        from core.errors import UserError
        from train.colorize import colorize_file

        if self.colorizer is None:
            raise BadRequest("this demo was started without --colorizer")
        unknown = sorted(set(tags) - set(self.colorizer_tags))
        if unknown:
            raise BadRequest(f"tags not in the colorizer's vocabulary: {', '.join(unknown)}")
        with tempfile.TemporaryDirectory(prefix="demo-colorize-") as tmp:
            line_path, out_path = Path(tmp) / "line.png", Path(tmp) / "out.png"
            line_path.write_bytes(line)
            hints_path = None
            if hints:
                hints_path = Path(tmp) / "hints.png"
                hints_path.write_bytes(hints)
            try:
                with self.lock:
                    colorize_file(self.colorizer, line_path, out_path, tags, hints_path, False, self.device)
            except UserError as e:
                raise BadRequest(
                    str(e).replace(str(line_path), "the drawing").replace(str(hints_path), "the hints")
                ) from e
            return out_path.read_bytes()

    def config(self) -> dict[str, Any]:
        """What the page needs to lay itself out."""
        return {
            "mode": "server", "nz": self.nz, "size": self.size, "tags": self.tags, "slider": list(SLIDER),
            "noise_max": NOISE_MAX, "colorizer": {"tags": self.colorizer_tags} if self.colorizer else None,
        }  # fmt: skip


def _colorizer_tags(path: str | Path, device: str) -> list[str]:
    """The colorizer's vocabulary (empty for a model trained without tags)."""
    from train.pix2pix import load_colorizer

    model = load_colorizer(path, device)
    return list(model.vocab.tags) if model.vocab is not None else []


def png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
