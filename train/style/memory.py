"""Memory estimates of a style run and the `--max-memory` plan.

The estimate counts, in float32: the VGG-19 activations of one tile up to the deepest layer used
(every conv, ReLU and pool output, kept for the backward pass, times BACKWARD_FACTOR for the
gradients in flight), the network's weights, and the image-sized tensors (the image, its gradient,
the content image, the start image and the optimiser's state: L-BFGS keeps 2 x history vectors).
bench/bench_style.py --gpu compares the estimate with the measured peak.
"""

from __future__ import annotations

from dataclasses import dataclass

from train.models.vgg import CFG

GIB = 1024**3
BACKWARD_FACTOR = 2.5
SAFETY = 0.9  # plan to 90% of --max-memory: allocator fragmentation, CUDA context, cuDNN workspaces
MIN_HISTORY = 5
TILED_HISTORY = 20  # the L-BFGS history a tiled scale aims for before making tiles smaller


def _modules() -> list[tuple[int, int]]:
    """(channels, downsampling) of each module of `features`, in order."""
    out, c, down = [], 3, 1
    for v in CFG:
        if v == "M":
            down *= 2
            out.append((c, down))
        else:
            c = int(v)
            out += [(c, down), (c, down)]
    return out


def activation_bytes(h: int, w: int, last: int) -> int:
    """Bytes of the outputs of features[0..last] for an h x w input (float32, batch 1)."""
    return 4 * sum(c * (h // d) * (w // d) for c, d in _modules()[: last + 1])


def weight_bytes(last: int) -> int:
    n, c, i = 0, 3, 0
    for v in CFG:
        if v == "M":
            i += 1
            continue
        if i > last:
            break
        n += int(v) * c * 9 + int(v)
        c, i = int(v), i + 2
    return 4 * n


def image_vectors(optimizer: str, history: int) -> int:
    """Image-sized float32 tensors alive during a run (besides the activations)."""
    base = 6  # image, gradient, content, content crop / output, two temporaries
    return base + (2 * history + 4 if optimizer == "lbfgs" else 3)


def run_bytes(
    h: int, w: int, tile: tuple[int, int], last: int, channels: int, optimizer: str, history: int
) -> int:
    """Estimated peak bytes of one scale: an h x w image processed in tiles of `tile` (h, w)."""
    acts = BACKWARD_FACTOR * activation_bytes(tile[0], tile[1], last)
    return int(acts + weight_bytes(last) + image_vectors(optimizer, history) * channels * h * w * 4)


@dataclass
class ScalePlan:
    """How one scale runs: its size, its grid (rows x cols; 1 x 1 untiled), overlap, L-BFGS history."""

    h: int
    w: int
    rows: int
    cols: int
    tile: int | None
    overlap: int
    history: int
    estimate_gib: float

    def to_dict(self) -> dict[str, object]:
        return {
            "size": [self.w, self.h],
            "tiles": [self.rows, self.cols],
            "tile": self.tile,
            "overlap": self.overlap,
            "lbfgs_history": self.history,
            "estimate_gib": round(self.estimate_gib, 3),
        }


def largest_tile(
    h: int, w: int, budget: int, last: int, channels: int, optimizer: str, history: int
) -> int | None:
    """The largest square tile (a multiple of 32) whose run fits `budget` bytes, or None."""
    t = 32 * (max(h, w) // 32 + 1)
    while t >= 64:
        if run_bytes(h, w, (min(t, h), min(t, w)), last, channels, optimizer, history) <= budget:
            return t
        t -= 32
    return None


def fit_history(
    h: int, w: int, tile: tuple[int, int], budget: int, last: int, channels: int, wanted: int
) -> int:
    """The largest L-BFGS history (<= wanted) that fits, or 0 when not even MIN_HISTORY does."""
    for m in (wanted, 50, 20, 10, MIN_HISTORY):
        if m <= wanted and run_bytes(h, w, tile, last, channels, "lbfgs", m) <= budget:
            return m
    return 0


def default_overlap(tile: int) -> int:
    """A quarter of the tile, rounded to a multiple of 8 (at least 8)."""
    return max(8, (tile // 4) // 8 * 8)


def _grid(h: int, w: int, tile: int | None, overlap: int) -> tuple[int, int]:
    from train.style.tiles import count

    if tile is None:
        return 1, 1
    return count(h, tile, overlap), count(w, tile, overlap)


def _extent(length: int, n: int, overlap: int) -> int:
    """The longest tile along an axis of `length` cut into `n` tiles."""
    return length if n == 1 else min(length, -(-length // n) + overlap)


def plan(
    sizes: list[tuple[int, int]],
    *,
    tile: int | None,
    overlap: int | None,
    regions: tuple[int, int] | None,
    max_memory_gib: float | None,
    last: int,
    channels: int,
    optimizer: str,
    history: int,
    auto_scales: bool,
) -> tuple[list[ScalePlan], list[str]]:
    """A ScalePlan per scale (coarse scales may be added first) and what was chosen, in words.

    `regions` (rows, cols) fixes the grid at every scale (per-tile styles); otherwise `tile` (or,
    under `max_memory_gib`, the largest tile that fits) decides where tiles are needed at all.
    """
    from core.errors import UserError

    budget = int(max_memory_gib * GIB * SAFETY) if max_memory_gib else None
    notes: list[str] = []
    fh, fw = sizes[-1]

    def fits(h: int, w: int, t: tuple[int, int], m: int) -> bool:
        return budget is None or run_bytes(h, w, t, last, channels, optimizer, m) <= budget

    if (
        budget
        and auto_scales
        and regions is None
        and tile is None
        and not fits(fh, fw, (fh, fw), MIN_HISTORY)
    ):
        extra: list[tuple[int, int]] = []
        h, w = fh, fw
        while len(extra) < 3 and max(h, w) // 2 >= 128:
            h, w = h // 2, w // 2
            extra.insert(0, (h, w))
            if fits(h, w, (h, w), min(history, 20)):
                break
        sizes = extra + sizes
        notes.append(
            "scales " + ",".join(str(max(s)) for s in sizes) + " (coarse to fine, added for --max-memory)"
        )

    plans: list[ScalePlan] = []
    for h, w in sizes:
        k = max(h, w) / max(fh, fw)
        if regions is not None:
            rows, cols = regions
            base = overlap if overlap is not None else default_overlap(max(-(-fh // rows), -(-fw // cols)))
            o = max(0, round(base * k))
            t = None
            ext = (_extent(h, rows, o), _extent(w, cols, o))
        else:
            t = tile
            o = overlap if overlap is not None else (default_overlap(tile) if tile else 0)
            if t is None and budget and not fits(h, w, (h, w), min(history, MIN_HISTORY)):
                # a history of up to TILED_HISTORY first; the shortest one only if no usable tile fits
                t = largest_tile(h, w, budget, last, channels, optimizer, min(history, TILED_HISTORY))
                if t is None or t < min(512, max(h, w)):
                    t = largest_tile(h, w, budget, last, channels, optimizer, MIN_HISTORY) or t
                if t is None:
                    raise UserError(
                        f"--max-memory {max_memory_gib:g}: too small even for 64 px tiles of a {w}x{h} image; "
                        "raise it or lower --size"
                    )
                o = overlap if overlap is not None else default_overlap(t)
                if o >= t:
                    raise UserError(
                        f"--tile-overlap {o} must be smaller than the tile --max-memory chose ({t})"
                    )
            rows, cols = _grid(h, w, t, o)
            ext = (_extent(h, rows, o), _extent(w, cols, o))
        m = history
        if optimizer == "lbfgs" and budget:
            m = fit_history(h, w, ext, budget, last, channels, history)
            if m == 0:
                raise UserError(
                    f"--max-memory {max_memory_gib:g}: a {w}x{h} image does not fit with L-BFGS even in tiles "
                    f"of {ext[1]}x{ext[0]}; raise it, or use --optimizer adam"
                )
        elif budget and not fits(h, w, ext, m):
            raise UserError(
                f"--max-memory {max_memory_gib:g}: a {w}x{h} image in tiles of {ext[1]}x{ext[0]} does not fit; "
                "raise it or give a smaller --tile"
            )
        est = run_bytes(h, w, ext, last, channels, optimizer, m) / GIB
        plans.append(ScalePlan(h, w, rows, cols, t, o, m, est))
        if budget:
            where = (
                f"{rows}x{cols} tiles of up to {ext[1]}x{ext[0]} px, overlap {o}"
                if rows * cols > 1
                else "whole"
            )
            hist = f", L-BFGS history {m}" if optimizer == "lbfgs" else ""
            notes.append(f"{w}x{h}: {where}{hist}, about {est:.2f} GiB")
    return plans, notes
