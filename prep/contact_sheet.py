"""Contact sheets: a grid of shard samples in one PNG, for looking rather than reading.

A line-art sample (`line.png` + `color.png`) is shown as line | colour side by side; any other
sample as its first image field (a face crop's `png`). Every tile is scaled to the first tile's
size (or to a given height); an optional strip under each tile names its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import UserError

PAD = 2
LABEL_H = 12
BACKGROUND = 255
FONT = cv2.FONT_HERSHEY_PLAIN
FONT_SCALE = 0.7
IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "bmp")


@dataclass(frozen=True)
class Sheet:
    """A composed sheet (BGR pixels) and what is on it."""

    image: np.ndarray
    keys: list[str]
    cols: int
    rows: int
    tile: tuple[int, int]  # (height, width) of one tile, label strip excluded


def pick_samples(folder: Path, n: int, seed: int | None) -> list[tuple[str, dict[str, bytes]]]:
    """The first `n` samples in index order, or `n` drawn at random (sorted) when `seed` is given."""
    from core.shards import iter_samples, read_index, shard_paths

    if (folder / "shards.json").is_file():
        infos = read_index(folder)
        paths, counts = [folder / i.url for i in infos], [i.nsamples for i in infos]
    else:
        paths = shard_paths(folder)
        counts = [sum(1 for _ in iter_samples(p)) for p in paths]
    total = sum(counts)
    if seed is None:
        wanted = set(range(min(n, total)))
    else:
        rng = np.random.default_rng(seed)
        wanted = {int(i) for i in rng.choice(total, size=min(n, total), replace=False)}
    picked: list[tuple[str, dict[str, bytes]]] = []
    start = 0
    for path, count in zip(paths, counts, strict=True):
        if any(start <= w < start + count for w in wanted) and path.is_file():
            for j, sample in enumerate(iter_samples(path)):
                if start + j in wanted:
                    picked.append(sample)
        start += count
    return picked


def _decode(data: bytes) -> np.ndarray | None:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR, grey expanded
    return img if img is not None and img.size else None


def tile_for(files: dict[str, bytes]) -> np.ndarray | None:
    """A sample's picture (BGR): line | colour for line art, else its first image; None if none decodes."""
    if "line.png" in files and "color.png" in files:
        line, colour = _decode(files["line.png"]), _decode(files["color.png"])
        if line is None or colour is None:
            return None
        if line.shape != colour.shape:
            line = cv2.resize(line, (colour.shape[1], colour.shape[0]), interpolation=cv2.INTER_NEAREST)
        return np.hstack([line, colour])
    for ext in files:
        if ext.rsplit(".", 1)[-1].lower() in IMAGE_EXTS and (img := _decode(files[ext])) is not None:
            return img
    return None


def _fit(text: str, width: int) -> str:
    """The longest tail of `text` that fits in `width` pixels (keys differ most at their end)."""
    while len(text) > 1 and cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0] > width:
        text = text[1:]
    return text


def compose(
    tiles: list[np.ndarray], keys: list[str], cols: int, labels: bool, height: int | None = None
) -> Sheet:
    """Lay tiles out in a grid of `cols` columns, each scaled to the first tile's size.

    With `height`, that size is first scaled (aspect kept) to `height` pixels high.
    """
    th, tw = tiles[0].shape[:2]
    if height is not None and height != th:
        th, tw = height, max(1, round(tw * height / th))
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    lh = LABEL_H if labels else 0
    sheet = np.full((PAD + rows * (th + lh + PAD), PAD + cols * (tw + PAD), 3), BACKGROUND, np.uint8)
    for i, (tile, key) in enumerate(zip(tiles, keys, strict=True)):
        if tile.shape[:2] != (th, tw):
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, cols)
        y, x = PAD + r * (th + lh + PAD), PAD + c * (tw + PAD)
        sheet[y : y + th, x : x + tw] = tile
        if labels:
            cv2.putText(
                sheet, _fit(key, tw), (x, y + th + lh - 3), FONT, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA
            )
    return Sheet(sheet, keys, cols, rows, (th, tw))


def make_sheet(
    folder: str | Path,
    out: str | Path,
    n: int = 64,
    cols: int = 8,
    seed: int | None = None,
    labels: bool = False,
    height: int | None = None,
) -> Sheet:
    """`prep show`: write a contact sheet PNG of `n` samples of the shards in `folder`."""
    from core.atomic import atomic_write_bytes

    folder, out = Path(folder), Path(out)
    if n < 1 or cols < 1:
        raise UserError(f"--n {n} --cols {cols}: both must be at least 1")
    if height is not None and not 8 <= height <= 2048:
        raise UserError(f"--height {height}: use 8 to 2048 pixels")
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the contact sheet is a PNG; give a name ending in .png")
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give a folder of shards (faces or lineart)")
    try:
        picked = pick_samples(folder, n, seed)
    except (ValueError, OSError) as e:
        raise UserError(f"{folder}: unreadable shards ({e}); check them with `prep verify {folder}`") from e
    pairs = [(k, t) for k, files in picked if (t := tile_for(files)) is not None]
    if not pairs:
        raise UserError(f"{folder}: no sample with a decodable image; check it with `prep verify {folder}`")
    sheet = compose([t for _, t in pairs], [k for k, _ in pairs], cols, labels, height)
    ok, buf = cv2.imencode(".png", sheet.image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    atomic_write_bytes(out, buf.tobytes())
    return sheet
