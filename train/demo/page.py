"""The studio page, the same for the server and the static export; only its embedded config differs
(`mode` "server": faces come from /sample.png; "static": generator.js draws them in the browser)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

STATIC = Path(__file__).with_name("static")
SCRIPTS = ("latent.js", "generator.js", "demo.js")


def script(name: str) -> str:
    """The text of one of the page's scripts."""
    if name not in SCRIPTS:
        raise KeyError(name)
    return (STATIC / name).read_text(encoding="utf-8")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin-bottom:1.5em}
.row{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
img.face{width:256px;height:256px;image-rendering:pixelated;background:#eee;border:1px solid #ccc}
img.pin{width:128px;height:128px;image-rendering:pixelated;background:#eee;border:1px solid #ccc}
#tags{display:grid;grid-template-columns:max-content 220px 3em;gap:2px 8px;align-items:center;max-height:420px;overflow:auto}
#tags span.name{font-family:monospace} output{font-family:monospace;text-align:right}
.canvas-wrap{position:relative;display:inline-block;border:1px solid #ccc;background:#fff}
.canvas-wrap canvas{display:block;width:256px;height:256px;image-rendering:pixelated}
#hints{position:absolute;left:0;top:0;cursor:crosshair}
#ctags{max-height:200px;overflow:auto;columns:3;font-family:monospace;font-size:12px}
.error{color:#b00}
img:not([src]){visibility:hidden}
"""

BODY = """
<h1>booru-gan studio</h1>
<section id="generator"><h2>Generator</h2>
<div class="row">
  <div><img id="sample" class="face" alt="generated face"><br>
    <button id="shuffle" type="button">shuffle</button> <button id="draw" type="button">draw</button>
    <button id="reset" type="button">reset sliders</button>
    <p><label>noise strength <input type="range" id="noise" name="noise" min="0" max="{noise_max}" step="0.05" value="1">
      <output id="noise-value">1</output></label></p>
    <p>seed <code id="seed-value"></code> &middot; <a id="share" href="">link to this face</a></p>
    <p id="status" class="error"></p>
  </div>
  <div id="tags">{sliders}</div>
</div>
<h3>Pin two faces and move between them</h3>
<div class="row">
  <div><button id="pin-a" type="button">pin A</button><br><img id="pin-a-img" class="pin" alt="pin A"></div>
  <div><label>A <input type="range" id="mix" min="0" max="1" step="0.05" value="0.5"> B</label><br>
    <img id="between" class="face" alt="between A and B"></div>
  <div><button id="pin-b" type="button">pin B</button><br><img id="pin-b-img" class="pin" alt="pin B"></div>
</div>
</section>
{colorizer}
"""

COLORIZER = """
<section id="colorizer-section"><h2>Colorizer</h2>
<div class="row">
  <div><p><label>line drawing <input type="file" id="line" accept="image/*"></label></p>
    <div class="canvas-wrap"><canvas id="drawing" width="256" height="256"></canvas><canvas id="hints" width="256" height="256"></canvas></div>
    <p>brush <input type="color" id="brush-colour" value="#3c64dc">
      size <input type="range" id="brush-size" min="1" max="64" value="8">
      <button id="clear-hints" type="button">clear hints</button></p>
    <p><button id="colorize" type="button">colorize</button></p>
    <p id="colorize-status" class="error"></p></div>
  <div><p>tags</p><div id="ctags">{tags}</div></div>
  <div><p>result</p><img id="colorized" class="face" alt="colorized drawing"></div>
</div>
</section>
"""


def render_page(config: dict[str, Any]) -> str:
    """The whole page for a config (see `Studio.config`; the export adds the model's files)."""
    lo, hi, step = config["slider"]
    sliders = (
        "".join(
            f'<span class="name">{html.escape(t)}</span>'
            f'<input type="range" name="{html.escape(t)}" min="{lo}" max="{hi}" step="{step}" value="0" '
            f'aria-label="{html.escape(t)}"><output>0</output>'
            for t in config["tags"]
        )
        or "<p>No tag sliders: start the demo with --directions (made by <code>train directions</code>).</p>"
    )
    col = config.get("colorizer")
    colorizer = ""
    if col is not None:
        boxes = (
            "".join(
                f'<label><input type="checkbox" name="ctag" value="{html.escape(t)}"> {html.escape(t)}</label><br>'
                for t in col["tags"]
            )
            or "(this colorizer was trained without tags)"
        )
        colorizer = COLORIZER.format(tags=boxes)
    scripts = (
        ["latent.js", "demo.js"] if config["mode"] == "server" else ["latent.js", "generator.js", "demo.js"]
    )
    cfg = json.dumps(config).replace("</", "<\\/")
    tags_js = "".join(f'<script src="{s}"></script>' for s in scripts)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>booru-gan studio</title>'
        f"<style>{STYLE}</style></head><body>"
        + BODY.format(noise_max=config["noise_max"], sliders=sliders, colorizer=colorizer)
        + f'<script id="config" type="application/json">{cfg}</script>{tags_js}</body></html>\n'
    )
