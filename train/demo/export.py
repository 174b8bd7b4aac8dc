"""`train demo --export DIR`: a static copy of the studio whose generator runs in the browser.

DIR holds everything the page needs, nothing else is fetched (no CDN, no library): `index.html`
(the page, with the tags and directions in its config), `latent.js`, `generator.js` (a plain
JavaScript forward pass of the DCGAN generator), `demo.js`, `weights.bin` (float32, little-endian)
and `model.json` (the layer list: shapes, offsets into weights.bin, activations). Each
BatchNorm (eval) is folded into the ConvTranspose2d before it: w * gamma / sqrt(var + eps) and a
bias beta - mean * gamma / sqrt(var + eps). Serve DIR with any static web server
(e.g. `python -m http.server -d DIR`); browsers do not `fetch` from file:// pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_write_bytes, atomic_write_text
from core.errors import UserError
from train.demo import page
from train.demo.studio import NOISE_MAX, RESERVED, SLIDER


def generator_layers(g: nn.Module) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(layer list, all weights as one float32 array) of a DCGAN generator (`g.main`)."""
    mods = list(g.main)
    layers: list[dict[str, Any]] = []
    chunks: list[np.ndarray] = []
    offset = 0
    i = 0
    while i < len(mods):
        conv = mods[i]
        if not isinstance(conv, nn.ConvTranspose2d) or conv.groups != 1 or conv.dilation != (1, 1):
            raise UserError(f"cannot export layer {i} ({type(conv).__name__}): not a plain ConvTranspose2d")
        w = conv.weight.detach().double()  # [cin, cout, k, k]
        b = (
            conv.bias.detach().double()
            if conv.bias is not None
            else torch.zeros(w.shape[1], dtype=torch.float64)
        )
        i += 1
        if i < len(mods) and isinstance(mods[i], nn.BatchNorm2d):
            bn = mods[i]
            scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            w = w * scale[None, :, None, None]
            b = (b - bn.running_mean.double()) * scale + bn.bias.detach().double()
            i += 1
        act = "none"
        if i < len(mods) and isinstance(mods[i], (nn.ReLU, nn.Tanh)):
            act = "relu" if isinstance(mods[i], nn.ReLU) else "tanh"
            i += 1
        cin, cout, k, _ = w.shape
        wl = w.permute(0, 2, 3, 1).contiguous().float().numpy().ravel()  # [cin][k][k][cout]
        layers.append({"cin": int(cin), "cout": int(cout), "k": int(k), "stride": int(conv.stride[0]),
                       "pad": int(conv.padding[0]), "act": act, "w_offset": offset, "b_offset": offset + wl.size})  # fmt: skip
        chunks += [wl, b.float().numpy()]
        offset += wl.size + cout
    return layers, np.concatenate(chunks).astype("<f4")


def export(ckpt: str | Path, directions: Any | None, out: str | Path) -> dict[str, Any]:
    """Write the static studio into `out`; returns what was written."""
    from train.dcgan import load_generator

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--export {out}: exists and is not a folder; give a folder")
    g, opts = load_generator(ckpt, "cpu")
    layers, weights = generator_layers(g)
    tags = [t for t in (directions.tags if directions else []) if t not in RESERVED]
    vectors = [directions.vectors[directions.tags.index(t)] for t in tags] if directions else []
    model = {"weights": "weights.bin", "size": int(opts["size"]), "nz": int(opts["nz"]), "layers": layers}
    config = {
        "mode": "static", "nz": int(opts["nz"]), "size": int(opts["size"]), "tags": tags, "slider": list(SLIDER),
        "noise_max": NOISE_MAX, "colorizer": None, "model": model,
        "directions": [[round(float(v), 6) for v in row] for row in vectors],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "weights.bin", weights.tobytes())
    atomic_write_text(out / "model.json", json.dumps(model, indent=1))
    for name in page.SCRIPTS:
        atomic_write_text(out / name, page.script(name))
    atomic_write_text(out / "index.html", page.render_page(config))  # last: the page appears complete
    return {
        "out": str(out),
        "weights_mb": round(weights.nbytes / 2**20, 2),
        "tags": len(tags),
        "layers": len(layers),
    }
