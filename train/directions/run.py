"""`train directions`: fit a direction per tag, measure it, write directions.json, the page and the strips."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.atomic import atomic_write_bytes
from core.errors import UserError
from core.stats import summary_line
from train.directions import fit, latent, page, store


def run_directions(
    ckpt: str | Path, tagger_path: str | Path, n: int = 20000, method: str = "mean", out: str | Path | None = None,
    tail: float = 0.1, effect_n: int = 500, seed: int = 0, device: str = "cpu", batch: int = 0,
    progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Fit, measure and write `out` (its figures are its stats), the page beside it (`.html`) and a
    folder of strips (`out` without `.json`); returns the summary."""
    from tqdm import tqdm

    from train.dcgan import load_generator
    from train.engine.device import for_inference, inference_batch
    from train.engine.rundir import find_snapshot
    from train.grid import make_grid
    from train.tagger import load_tagger

    if method not in fit.METHODS:
        raise UserError(f"--method must be one of {', '.join(fit.METHODS)}, not {method!r}")
    if n < 20:
        raise UserError(f"--n must be at least 20, not {n}")
    if not 0 < tail <= 0.5:
        raise UserError(f"--tail must be in (0, 0.5], not {tail}")
    if effect_n < 1:
        raise UserError(f"--effect-n must be at least 1, not {effect_n}")
    out = Path(out) if out is not None else store.default_path(ckpt)
    t0 = time.perf_counter()
    g, opts = load_generator(ckpt, device)
    tagger = load_tagger(tagger_path, device)
    for_inference(g, device)
    for_inference(tagger.net, device)
    batch = inference_batch(batch, device)
    nz, tags = opts["nz"], tagger.tags
    total = n + effect_n * (len(tags) + 1) + len(tags) * len(page.STRIP_SEEDS) * len(page.STRIP_VALUES)
    bar = tqdm(total=total, desc="directions", unit="img", disable=not progress, dynamic_ncols=True)
    try:
        z = torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))
        scores = fit.score_latents(g, tagger, z, device, batch, bar.update)
        vectors = fit.fit(method, z, scores, tail, seed).numpy().astype(np.float32)
        fresh = torch.randn(effect_n, nz, generator=torch.Generator().manual_seed(seed + 1)).numpy()
        effect, base = fit.measure(g, tagger, vectors, fresh, device, batch, bar.update)
        sel = fit.selective(effect)
        meta = {
            "method": method, "ckpt": str(find_snapshot(ckpt)), "tagger": str(find_snapshot(tagger_path)),
            "n": n, "tail": tail, "effect_n": effect_n, "seed": seed, "prior_radius": latent.prior_radius(nz),
            "norms": {t: round(float(np.linalg.norm(v)), 4) for t, v in zip(tags, vectors, strict=True)},
            "own_gain": {t: round(float(effect[i, i]), 4) for i, t in enumerate(tags)},
            "base_score": {t: round(float(b), 4) for t, b in zip(tags, base, strict=True)},
            "generated_score": {t: round(float(s), 4) for t, s in zip(tags, scores.mean(0).tolist(), strict=True)},
            "effect": np.round(effect, 4).tolist(), "cosine": np.round(fit.cosines(vectors), 4).tolist(),
            "selective": dict(zip(tags, sel, strict=True)), "selective_count": int(sum(sel)),
            "selective_share": round(sum(sel) / len(sel), 4) if sel else 0.0,
        }  # fmt: skip
        d = store.Directions(list(tags), vectors, meta)
        strips: dict[str, bytes] = {}
        strip_dir = out.with_suffix("")
        for i, t in enumerate(tags):
            faces = fit.generate_float(g, page.strip_latents(d, t), device, batch)
            strips[t] = _png(make_grid(faces, nrow=len(page.STRIP_VALUES)).numpy())
            atomic_write_bytes(strip_dir / page.safe_name(i, t), strips[t])
            bar.update(len(faces))
    finally:
        bar.close()
    meta["time_s"] = round(time.perf_counter() - t0, 2)
    store.save(d, out)
    html_path = page.write_page(out.with_suffix(".html"), d, strips)
    summary = {
        "out": str(out), "page": str(html_path), "strips": str(strip_dir), "method": method, "n": n,
        "tags": len(tags), "selective_share": meta["selective_share"], "time_s": meta["time_s"],
        "mean_own_gain": round(float(np.mean(np.diag(effect))), 4) if len(tags) else None,
    }  # fmt: skip
    print(
        summary_line(
            "train directions", summary, ["tags", "n", "selective_share", "mean_own_gain", "time_s", "out"]
        )
    )
    return summary


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
