"""Face shards straight from the sample site's synthetic illustrations, without a crawl: for the
tests and benchmarks that need tagged faces whose hair colour matches their tags.

Each single-face post's face box is cut out, resized to `size` px and stored as `prep faces`
stores a crop: `<key>.png` and `<key>.json` with the post id, face index, the post's tags and the
size. Deterministic: the same arguments give byte-identical shards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from pathlib import Path

from core.shards import write_index, write_shard


def tagged_face_shards(
    out: Path, n: int, size: int = 32, hair: Collection[str] | None = None, shard_size: int = 500
) -> Path:
    """The first `n` single-face posts (only those with a hair tag in `hair`, when given) as face
    shards in `out` with their shards.json; returns `out`."""
    import cv2
    from PIL import Image

    from crawl.synthetic import make_illustration, plan_illustration

    out.mkdir(parents=True, exist_ok=True)
    faces: list[tuple[str, dict[str, bytes]]] = []
    pid = 0
    while len(faces) < n:
        plan = plan_illustration(pid, seed=0, size=(96, 96))
        if plan.kind == "face" and len(plan.faces) == 1 and (hair is None or plan.hair[0] in hair):
            ill = make_illustration(pid, seed=0, size=(96, 96))
            x, y, w, h = ill.faces[0]
            img = cv2.resize(ill.image[y : y + h, x : x + w], (size, size), interpolation=cv2.INTER_AREA)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            meta = {"post_id": pid, "face_index": 0, "tags": ill.tags, "size": size}
            faces.append((f"p{pid:010d}_f00", {"png": buf.getvalue(), "json": json.dumps(meta).encode()}))
        pid += 1
    infos = [
        write_shard(out / f"faces-{k:06d}.tar", faces[i : i + shard_size])
        for k, i in enumerate(range(0, n, shard_size))
    ]
    write_index(out, infos, name="faces")
    return out
