"""The page of `prep report`: the sections of every registered stage in order, in one HTML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from prep.report.context import Context, Section
from prep.report.html import esc

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 2rem 4rem;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;
margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}td:has(img){padding:2px}
img{max-width:100%;height:auto;display:block}img.plot,img.sheet{margin:.6rem 0;border:1px solid #eee}
img.thumb{max-width:96px;max-height:96px}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px;font-size:.85em}
pre{background:#f8f8f8;padding:.6rem;overflow:auto;font-size:.8rem;max-height:24rem}
.note{color:#444}.warn{color:#8a4b00;background:#fff6e5;padding:.3rem .6rem;border-left:3px solid #e0a030}
.missing{color:#b00020;font-weight:600}.dim{color:#888;font-size:.85em}
nav a{margin-right:1rem}summary{cursor:pointer;margin:.3rem 0}
"""


@dataclass(frozen=True)
class Report:
    """The page written and what is in it."""

    path: Path
    size: int
    sections: list[str]
    present: list[str]
    missing: list[str]
    images: int


def render(root: Path, sections: list[tuple[str, str, str]], present: list[str], missing: list[str]) -> str:
    """The whole page from (anchor, title, body html) sections."""
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{b}</section>' for a, t, b in sections)
    have = ", ".join(present) or "none"
    lacking = f"; missing: {', '.join(missing)}" if missing else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Dataset report: {esc(str(root))}</title><style>{CSS}</style></head>\n<body>"
        f'<h1>Dataset report</h1><p class="note">Data root <code>{esc(str(root))}</code>; '
        f"stages found: {esc(have)}{esc(lacking)}.</p><nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def page_sections(ctx: Context) -> list[Section]:
    """The sections common to every stage, then each stage's own, ordered by `order`."""
    from prep.report import sections as s

    common = [
        Section(0, "summary", "Stages", s.summary_section),
        Section(10, "rejections", "Rejection reasons", s.rejection_section),
        Section(90, "rejected", "Rejected sources (sample)", s.rejected_section),
        Section(100, "params", "Parameters", s.params_section),
    ]
    own = [sec for st in ctx.stages.values() for sec in st.view.sections()]
    return sorted(common + own, key=lambda sec: sec.order)


def build_report(
    root: str | Path,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    n_faces: int = 64,
    n_pairs: int = 16,
    n_rejected: int = 24,
    n_content: int = 16,
) -> Report:
    """`prep report`: write the HTML page about the dataset under `root` (default `<root>/report.html`)."""
    from core.atomic import atomic_write_text
    from prep.report.collect import collect

    root = Path(root)
    out = Path(out) if out is not None else root / "report.html"
    for opt, v in (
        ("--faces", n_faces),
        ("--pairs", n_pairs),
        ("--rejected", n_rejected),
        ("--content", n_content),
    ):
        if v < 0:
            raise UserError(f"{opt} {v}: give 0 (leave the section empty) or more")
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name ending in .html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {out}: the report is an HTML page; give a name ending in .html")
    stages = collect(root)

    from prep.report import plots

    ctx = Context(stages, root, plots, seed, n_faces, n_pairs, n_rejected, n_content)
    sections = [(sec.anchor, sec.title, sec.body(ctx)) for sec in page_sections(ctx)]
    present = [n for n, st in stages.items() if st.present]
    missing = [n for n, st in stages.items() if not st.present]
    page = render(root, sections, present, missing)
    try:
        atomic_write_text(out, page)
    except OSError as ex:
        raise UserError(f"--out {out}: cannot write it ({ex.strerror or ex}); choose another path") from None
    return Report(
        out, len(page.encode("utf-8")), [t for _, t, _ in sections], present, missing, page.count("<img ")
    )


def summary(report: Report) -> str:
    """The one-line end-of-command summary."""
    size = f"{report.size / 1e6:.1f}MB" if report.size >= 1e6 else f"{report.size / 1e3:.0f}kB"
    missing = ",".join(report.missing) or "-"
    return (
        f"report: out={report.path} size={size} sections={len(report.sections)} images={report.images} "
        f"stages={','.join(report.present)} missing={missing}"
    )
