"""Small HTML helpers of `prep report`: escaping, inline PNG images, tables, numbers, notes."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

esc = html.escape


def img(png: bytes, alt: str, cls: str = "") -> str:
    """An `<img>` whose source is the PNG itself (a data: URI)."""
    data = base64.b64encode(png).decode("ascii")
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(row(r, len(header)) for r in rows)
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def row(cells: list[Any], width: int) -> str:
    """A table row; a short row's last cell spans the remaining columns."""
    tds = [f"<td>{c}</td>" for c in cells]
    if tds and len(cells) < width:
        tds[-1] = f'<td colspan="{width - len(cells) + 1}">{cells[-1]}</td>'
    return "<tr>" + "".join(tds) + "</tr>"


def num(v: Any) -> str:
    if v is None:
        return "&mdash;"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return esc(str(v))


def note(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{text}</p>'


def missing(folder: Path, build: str, what: str) -> str:
    """Says the folder is missing and which command builds it."""
    return note(
        f"No {esc(what)}: <code>{esc(str(folder))}</code> is missing; build it with <code>{esc(build)}</code>."
    )


def encode_png(bgr: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
