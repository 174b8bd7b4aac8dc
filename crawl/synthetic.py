"""Synthetic anime-style illustrations with known faces and tags, for tests and the sample site.

Each post id (and seed) gives one deterministic picture: flat, slightly blurred drawings of
girls' faces that lbpcascade_animeface really detects (pale face, two large dark eyes at about
60% of the face's height, hair down to the eyebrows, pointed chin), with tags that describe what
was drawn: the hair and eye colour tags always match the colours painted, so that a
tag-conditioned colorizer can learn them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Box = tuple[int, int, int, int]

# RGB colours; the tag names are the danbooru ones.
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "blonde_hair": (246, 214, 110),
    "brown_hair": (120, 72, 40),
    "black_hair": (40, 36, 44),
    "blue_hair": (60, 100, 220),
    "red_hair": (200, 40, 40),
    "pink_hair": (245, 140, 190),
    "purple_hair": (130, 70, 180),
    "green_hair": (60, 160, 80),
    "white_hair": (240, 240, 245),
    "orange_hair": (245, 140, 40),
    "aqua_hair": (70, 210, 210),
    "grey_hair": (150, 150, 158),
}
EYE_COLOURS: dict[str, tuple[int, int, int]] = {
    "blue_eyes": (40, 90, 220),
    "red_eyes": (210, 30, 40),
    "green_eyes": (40, 160, 70),
    "brown_eyes": (130, 80, 40),
    "purple_eyes": (140, 60, 200),
    "yellow_eyes": (235, 200, 40),
    "aqua_eyes": (40, 200, 210),
    "pink_eyes": (240, 110, 170),
}
SKIN = (255, 228, 212)
OUTLINE = (70, 40, 40)

# Noise: tags a tagger might add that say nothing the picture shows.
NOISE_TAGS: tuple[str, ...] = (
    "highres",
    "commentary_request",
    "original",
    "bangs",
    "blush",
    "short_hair",
    "long_hair",
    "upper_body",
    "closed_mouth",
    "open_mouth",
    "hair_ornament",
    "bow",
    "ribbon",
    "shirt",
    "white_background",
    "translated",
    "artist_name",
    ">_<",
    ":d",
    "girls'_frontline",
)

KINDS: tuple[str, ...] = ("face", "multi_face", "no_face", "monochrome")
_KIND_WEIGHTS = (0.6, 0.15, 0.15, 0.1)


@dataclass
class Illustration:
    """One synthetic picture: RGB pixels, its tags and the boxes (x, y, w, h) of the drawn faces."""

    image: np.ndarray
    tags: list[str]
    faces: list[Box] = field(default_factory=list)
    kind: str = "face"
    hair: list[str] = field(default_factory=list)  # per face, its hair colour tag
    eyes: list[str] = field(default_factory=list)  # per face, its eye colour tag


def _rng(post_id: int, seed: int, salt: str = "") -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{post_id}:{salt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def default_size(post_id: int, seed: int = 0) -> tuple[int, int]:
    """The (width, height) a post gets without `size`: long side 400-700 px, mixed aspect ratios."""
    rng = _rng(post_id, seed, "size")
    long_side = int(rng.integers(400, 701))
    aspect = float(rng.choice([1.0, 0.75, 0.7, 1.33, 1.5, 0.8]))
    if aspect >= 1.0:
        return long_side, max(64, round(long_side / aspect))
    return max(64, round(long_side * aspect)), long_side


def kind_of(post_id: int, seed: int = 0) -> str:
    """Which kind of picture a post is (cheap: no drawing)."""
    rng = _rng(post_id, seed, "kind")
    return str(rng.choice(KINDS, p=_KIND_WEIGHTS))


def _pastel(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(170, 256, size=3))  # type: ignore[return-value]


# Where the cascade's box falls relative to the drawing's frame (measured over a few hundred
# pictures): the recorded face box is the box the detector reports, not the drawing's frame.
_FRAME_SCALE = 1 / 1.057
_FRAME_DX = 0.022
_FRAME_DY = -0.153


def colour_probes(box: Box) -> dict[str, list[tuple[int, int]]]:
    """Pixels (x, y) of a drawn face that show its hair colour and its two irises' colour."""
    s = box[2] * _FRAME_SCALE
    x = box[0] + _FRAME_DX * s
    y = box[1] + _FRAME_DY * s

    def p(fx: float, fy: float) -> tuple[int, int]:
        return round(x + fx * s), round(y + fy * s)

    return {"hair": [p(0.5, 0.2), p(0.2, 0.3)], "eyes": [p(0.28, 0.515), p(0.72, 0.515)]}


def _draw_face(
    img: np.ndarray, box: Box, hair: tuple[int, int, int], eye: tuple[int, int, int], rng: np.random.Generator
) -> None:
    """Paint one face whose detector box is `box`: hair, pale face with a pointed chin, two large eyes."""
    s = box[2] * _FRAME_SCALE
    x = box[0] + _FRAME_DX * s
    y = box[1] + _FRAME_DY * s
    aa = cv2.LINE_AA

    def p(fx: float, fy: float) -> tuple[int, int]:
        return round(x + fx * s), round(y + fy * s)

    def r(f: float) -> int:
        return max(1, round(f * s))

    line = r(0.018)
    # Hair mass behind the head, reaching below the face on the sides; outlined so that white
    # or blonde hair still stands out from the pale skin.
    cv2.ellipse(img, p(0.5, 0.45), (r(0.58), r(0.55)), 0, 0, 360, hair, -1, aa)
    back = np.array([p(-0.08, 0.45), p(-0.08, 1.05), p(1.08, 1.05), p(1.08, 0.45)], np.int32)
    cv2.fillPoly(img, [back], hair, aa)
    cv2.ellipse(img, p(0.5, 0.45), (r(0.58), r(0.55)), 0, 180, 360, OUTLINE, line, aa)
    cv2.polylines(img, [back], False, OUTLINE, line, aa)
    # Face: rounded top, pointed chin.
    face = np.array(
        [p(0.1, 0.35), p(0.1, 0.62), p(0.3, 0.88), p(0.5, 1.0), p(0.7, 0.88), p(0.9, 0.62), p(0.9, 0.35)],
        np.int32,
    )
    cv2.ellipse(img, p(0.5, 0.4), (r(0.4), r(0.3)), 0, 0, 360, SKIN, -1, aa)
    cv2.fillPoly(img, [face], SKIN, aa)
    cv2.polylines(img, [face[1:-1]], False, OUTLINE, line, aa)
    # Bangs down to the eyebrows.
    cv2.ellipse(img, p(0.5, 0.3), (r(0.46), r(0.2)), 0, 0, 360, hair, -1, aa)
    for fx in (0.3, 0.5, 0.7):
        tip = p(fx + rng.uniform(-0.04, 0.04), rng.uniform(0.5, 0.54))
        cv2.fillPoly(img, [np.array([p(fx - 0.1, 0.45), p(fx + 0.1, 0.45), tip], np.int32)], hair, aa)
    # Large dark eyes at ~57% of the frame: dark rim, coloured iris, dark pupil.
    for ex in (0.28, 0.72):
        cv2.ellipse(img, p(ex, 0.57), (r(0.12), r(0.15)), 0, 0, 360, (30, 20, 30), -1, aa)
        cv2.ellipse(img, p(ex, 0.59), (r(0.084), r(0.112)), 0, 0, 360, eye, -1, aa)
        cv2.ellipse(img, p(ex, 0.61), (r(0.044), r(0.06)), 0, 0, 360, (25, 15, 25), -1, aa)
        cv2.line(img, p(ex - 0.13, 0.42), p(ex + 0.11, 0.41), OUTLINE, r(0.02), aa)
    # Mouth.
    cv2.ellipse(img, p(0.5, 0.82), (r(0.06), r(0.025)), 0, 0, 180, OUTLINE, r(0.015), aa)


def _draw_clutter(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Flowers and blobs for pictures without people."""
    h, w = img.shape[:2]
    for _ in range(n):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        rad = int(rng.integers(max(4, min(h, w) // 30), max(8, min(h, w) // 6)))
        colour = tuple(int(v) for v in rng.integers(60, 256, size=3))
        if rng.random() < 0.5:
            cv2.circle(img, c, rad, colour, -1, cv2.LINE_AA)
        else:
            for k in range(5):
                a = 2 * np.pi * k / 5
                pc = (round(c[0] + rad * np.cos(a)), round(c[1] + rad * np.sin(a)))
                cv2.circle(img, pc, max(2, rad // 2), colour, -1, cv2.LINE_AA)


def _place_faces(rng: np.random.Generator, w: int, h: int, n: int) -> list[Box]:
    """Non-overlapping square face boxes (with room for hair around them) inside the image."""
    boxes: list[Box] = []
    short = min(w, h)
    hi = max(40, short // 2) if n == 1 else max(40, int(short * 0.38))
    lo = min(80, hi)
    for _ in range(60 * n):
        if len(boxes) == n:
            break
        s = int(rng.integers(lo, hi + 1))
        margin, top = max(2, s // 8), max(2, s // 4)  # the hair reaches ~s/4 above the face box
        if w - s - 2 * margin <= 0 or h - s - margin - top <= 0:
            continue
        x = int(rng.integers(margin, w - s - margin + 1))
        y = int(rng.integers(top, h - s - margin + 1))
        pad = s // 5
        if all(
            x + s + pad <= bx or bx + bs + pad <= x or y + s + pad <= by or by + bs + pad <= y
            for bx, by, bs, _ in boxes
        ):
            boxes.append((x, y, s, s))
    return boxes


@dataclass(frozen=True)
class Plan:
    """What a picture will show, decided without drawing (cheap): enough to answer tag searches."""

    post_id: int
    seed: int
    width: int
    height: int
    kind: str
    tags: tuple[str, ...]
    faces: tuple[Box, ...]
    hair: tuple[str, ...]  # per face, the hair colour tag
    eyes: tuple[str, ...]  # per face, the eye colour tag
    background: tuple[int, int, int]


def plan_illustration(post_id: int, seed: int = 0, size: tuple[int, int] | None = None) -> Plan:
    """Decide post `post_id`'s picture and tags; deterministic per (post_id, seed, size)."""
    w, h = size or default_size(post_id, seed)
    kind = kind_of(post_id, seed)
    rng = _rng(post_id, seed, "plan")
    background = _pastel(rng)
    tags: set[str] = {"simple_background"}
    n_faces = {"face": 1, "monochrome": 1, "multi_face": int(rng.integers(2, 4)), "no_face": 0}[kind]
    boxes = _place_faces(rng, w, h, n_faces)
    if n_faces and not boxes:  # too small to draw a face: an honest picture without one
        kind = "no_face"
    hair = tuple(str(rng.choice(sorted(HAIR_COLOURS))) for _ in boxes)
    eyes = tuple(str(rng.choice(sorted(EYE_COLOURS))) for _ in boxes)
    if kind == "no_face":
        tags |= {"no_humans", "flower", "scenery"}
    elif kind == "monochrome":
        tags |= {"monochrome", "greyscale"}
    else:
        tags |= set(hair) | set(eyes)
    if boxes:
        tags |= {"looking_at_viewer", "smile"}
        tags |= {"1girl", "solo"} if len(boxes) == 1 else {f"{len(boxes)}girls", "multiple_girls"}
    n_noise = int(rng.integers(0, 4))
    tags |= {str(t) for t in rng.choice(NOISE_TAGS, size=n_noise, replace=False)}
    return Plan(post_id, seed, w, h, kind, tuple(sorted(tags)), tuple(boxes), hair, eyes, background)


def draw(plan: Plan) -> np.ndarray:
    """Paint a plan: H x W x 3 RGB uint8."""
    rng = _rng(plan.post_id, plan.seed, "draw")
    img = np.empty((plan.height, plan.width, 3), np.uint8)
    img[:] = plan.background
    if plan.kind == "no_face":
        _draw_clutter(img, rng, int(rng.integers(3, 9)))
    for box, hair, eye in zip(plan.faces, plan.hair, plan.eyes, strict=True):
        _draw_face(img, box, HAIR_COLOURS[hair], EYE_COLOURS[eye], rng)
    img = cv2.GaussianBlur(img, (3, 3), 0.8)
    if plan.kind == "monochrome":
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        img = np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img)


def make_illustration(post_id: int, seed: int = 0, size: tuple[int, int] | None = None) -> Illustration:
    """Draw post `post_id`'s picture; deterministic per (post_id, seed). `size` is (width, height)."""
    plan = plan_illustration(post_id, seed, size)
    return Illustration(
        image=draw(plan),
        tags=list(plan.tags),
        faces=list(plan.faces),
        kind=plan.kind,
        hair=list(plan.hair),
        eyes=list(plan.eyes),
    )


def encode(image: np.ndarray, ext: str, alpha: bool = False, quality: int = 92) -> bytes:
    """Encode RGB pixels as PNG (optionally with an alpha channel) or JPEG bytes, deterministically."""
    if ext == "png":
        if alpha:
            a = np.full(image.shape[:2], 255, np.uint8)
            a[: max(1, image.shape[0] // 20), :] = 0  # a transparent strip on top
            bgra = cv2.cvtColor(image, cv2.COLOR_RGB2BGRA)
            bgra[:, :, 3] = a
            ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        else:
            ok, buf = cv2.imencode(
                ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3]
            )
    elif ext in ("jpg", "jpeg"):
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
    else:
        raise ValueError(f"unsupported image extension {ext!r}")
    if not ok:
        raise RuntimeError(f"could not encode a {ext} image")
    return buf.tobytes()


def file_ext(post_id: int, seed: int = 0) -> str:
    """The real format of a post's original file: mostly png, one in four jpg."""
    return "jpg" if _rng(post_id, seed, "ext").random() < 0.25 else "png"


def write_raw_store(
    out: Path, n_posts: int, seed: int = 0, first_id: int = 1000, size: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Write a crawl store without HTTP, in the crawler's layout; returns the posts manifest.

    Images go to `out/images/<id % 1000:03d>/<id>.<ext>` and the manifest to `out/posts.parquet`
    (validated against schemas.crawl.POSTS_SCHEMA, every row status "ok").
    """
    import pandas as pd

    from core.atomic import atomic_write_bytes, atomic_write_parquet
    from crawl.download import image_relpath
    from schemas.crawl import POSTS_SCHEMA, STATUS_OK
    from schemas.validate import validate_table

    out = Path(out)
    rows = []
    for post_id in range(first_id, first_id + n_posts):
        ill = make_illustration(post_id, seed, size)
        ext = file_ext(post_id, seed)
        data = encode(ill.image, ext)
        rel = image_relpath(post_id, ext)
        atomic_write_bytes(out / rel, data)
        md5 = hashlib.md5(data).hexdigest()
        h, w = ill.image.shape[:2]
        rows.append(
            {
                "id": post_id,
                "tags": ill.tags,
                "rating": "general",
                "score": int(_rng(post_id, seed, "score").integers(0, 20)),
                "width": w,
                "height": h,
                "source": "",
                "md5": md5,
                "file_md5": md5,
                "file_size": len(data),
                "file_url": f"http://127.0.0.1/images/{post_id % 1000}/{md5}.{ext}",
                "path": rel,
                "status": STATUS_OK,
                "error": None,
                "duplicate_of": None,
                "change": 1700000000 + post_id,
                "md5_match": True,
            }
        )
    df = pd.DataFrame(rows)
    table = validate_table(df, POSTS_SCHEMA, where="synthetic posts")
    atomic_write_parquet(out / "posts.parquet", table)
    return table.to_pandas()
