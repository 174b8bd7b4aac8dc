"""`train demo`: the studio over real HTTP and in real headless Chromium (Playwright), and its static
export, whose JavaScript generator is checked against torch.

The generator and its directions come from tests/test_directions.py's session fixture (a DCGAN
generator fitted to the tagged sample-site faces, `train tagger`, `train directions`).
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import UserError
from tests.conftest import ROOT
from tests.test_directions import blueness, steered  # noqa: F401  (fixture)
from tests.test_pix2pix import lineart_dir, tiny_options  # noqa: F401  (fixture)
from tests.test_tagger import ONE_THREAD, tagged_faces, tagger_run  # noqa: F401  (fixtures)
from train.directions import latent, store

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def colorizer_run(lineart_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A pix2pix run of a few steps: enough for the demo to colour a drawing with it."""
    from train.pix2pix import train

    out = tmp_path_factory.mktemp("demo-p2p") / "p2p"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tiny_options(lineart_dir, out, steps=2))
    finally:
        torch.set_num_threads(n)
    return out


@pytest.fixture(scope="module")
def server(steered: dict[str, Path], colorizer_run: Path) -> Iterator[Any]:  # noqa: F811
    from train.demo.server import start
    from train.demo.studio import Studio

    run = steered["dcgan"]
    srv = start(Studio(run, store.load(run / "directions.json"), colorizer_run), port=0)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no {CHROMIUM} in CI: .ci/run should have installed Debian's chromium")
        pytest.skip(f"no {CHROMIUM} (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def get(url: str, data: bytes | None = None, method: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def png_array(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def data_url(img: np.ndarray | Image.Image) -> str:
    import base64

    buf = io.BytesIO()
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def drawing(w: int = 40, h: int = 30) -> np.ndarray:
    """Dark lines on white: a face-ish outline."""
    import cv2

    img = np.full((h, w), 255, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 0, 1)
    cv2.line(img, (w // 3, h // 2), (2 * w // 3, h // 2), 0, 1)
    return img


def wait_shown(page: Any, img: str = "sample") -> None:
    """Until <img id=img> shows the face the page last asked for."""
    page.wait_for_function(
        f"() => {{ const i = document.getElementById('{img}'); return i.dataset.want && "
        "i.dataset.shown === i.dataset.want && i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )


def shown_blueness(page: Any) -> float:
    return blueness(png_array(page.locator("#sample").screenshot()))


# -- the server over HTTP --------------------------------------------------------------------------


def test_server_pages_faces_and_bad_requests(server: Any, steered: dict[str, Path]) -> None:  # noqa: F811
    url = server.url
    status, body = get(url)
    page = body.decode()
    assert status == 200 and '<img id="sample"' in page and '<input type="range" name="blue_hair"' in page
    assert 'id="line"' in page and 'id="colorized"' in page and 'type="range" id="noise"' in page
    assert server.server_address[0] == "127.0.0.1"
    status, face = get(url + "sample.png?seed=5&noise=1&blue_hair=1.5")
    assert status == 200 and png_array(face).shape == (32, 32, 3)
    assert get(url + "sample.png?seed=5&noise=1&blue_hair=1.5")[1] == face  # a state is one face
    up = png_array(get(url + "sample.png?seed=5&blue_hair=2")[1])
    down = png_array(get(url + "sample.png?seed=5&blue_hair=-2")[1])
    assert blueness(up) > blueness(down) + 5
    status, mix = get(url + "mix.png?t=0.5&a=seed%3D1&b=seed%3D2%26blue_hair%3D1")
    assert status == 200 and png_array(mix).shape == (32, 32, 3)
    assert get(url + "latent.js")[0] == 200 and get(url + "demo.js")[0] == 200
    bad = {
        "sample.png?seed=abc": "seed",
        "sample.png?seed=-1": "seed",
        "sample.png?seed=99999999999": "seed",
        "sample.png?noise=5": "noise",
        "sample.png?blue_hair=9": "blue_hair",
        "sample.png?blue_hair=x": "not a number",
        "sample.png?blue_hair=nan": "blue_hair",
        "sample.png?wavy_hair=1": "no slider for wavy_hair",
        "sample.png?seed=1&seed=2": "2 times",
        "mix.png?a=seed%3D1": "b is missing",
        "mix.png?a=seed%3D1&b=seed%3D2&t=2": "t=",
        "mix.png?a=seed%3D1&b=seed%3Dx": "seed",
    }
    for path, words in bad.items():
        status, body = get(url + path)
        assert status == 400 and words in body.decode(), (path, body)
    assert get(url + "nothing")[0] == 404
    assert get(url + "sample.png", data=b"", method="PUT")[0] == 405
    assert get(url + "colorize", data=b"not json")[0] == 400
    assert get(url + "elsewhere", data=b"{}")[0] == 404
    status, body = get(url + "colorize", data=json.dumps({"line": "data:image/png;base64,@@@"}).encode())
    assert status == 400 and b"base64" in body
    status, body = get(
        url + "colorize", data=json.dumps({"line": data_url(drawing()), "tags": ["no_such_tag"]}).encode()
    )
    assert status == 400 and b"no_such_tag" in body
    status, body = get(url + "colorize", data=json.dumps({"line": "aGVsbG8="}).encode())  # "hello"
    assert status == 400 and b"the drawing" in body and b"/tmp" not in body, body
    status, body = get(url + "colorize", data=json.dumps({"line": data_url(drawing()), "tags": []}).encode())
    assert status == 200 and png_array(body).shape == (30, 40, 3)
    assert get(url + "sample.png")[0] == 200  # still serving


# -- the page in Chromium ----------------------------------------------------------------------------


def test_blue_hair_slider_makes_the_face_bluer(server: Any, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "?seed=5")
    wait_shown(page)
    slider = page.locator('input[type="range"][name="blue_hair"]')
    slider.focus()
    page.keyboard.press("End")  # the slider at its top, as a user drags it
    wait_shown(page)
    assert slider.input_value() == "2" and "blue_hair=2" in page.url
    up = shown_blueness(page)
    up_src = page.locator("#sample").get_attribute("src")
    page.keyboard.press("Home")
    wait_shown(page)
    assert "blue_hair=-2" in page.url
    down = shown_blueness(page)
    assert up > down + 5, (up, down)
    # the state lives in the URL: reloading the shared link shows the same face
    shared = page.url.replace("blue_hair=-2", "blue_hair=2")
    page.goto(shared)
    wait_shown(page)
    assert page.locator('input[name="blue_hair"]').input_value() == "2"
    assert page.locator("#sample").get_attribute("src") == up_src
    page.close()


def test_shuffle_pins_and_interpolation(server: Any, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "?seed=5")
    wait_shown(page)
    page.click("#pin-a")
    first = page.locator("#seed-value").inner_text()
    page.click("#shuffle")
    wait_shown(page)
    assert page.locator("#seed-value").inner_text() != first
    page.click("#pin-b")
    page.locator("#mix").focus()
    page.keyboard.press("End")
    wait_shown(page, "between")
    wait_shown(page, "pin-a-img")
    assert "a=seed" in page.url and "b=seed" in page.url and "t=1" in page.url
    between = png_array(page.locator("#between").screenshot())
    pin_b = png_array(page.locator("#pin-b-img").screenshot())
    small = np.array(Image.fromarray(between).resize(pin_b.shape[1::-1]))
    assert np.abs(small.astype(int) - pin_b.astype(int)).mean() < 12  # t=1 is pin B
    page.close()


def test_colorizer_upload_hints_and_tags(server: Any, browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "drawing.png"
    Image.fromarray(drawing()).save(path)
    page = browser.new_page()
    page.goto(server.url)
    page.set_input_files("#line", str(path))
    page.wait_for_function("() => document.getElementById('drawing').width === 40")
    boxes = page.locator("input[name=ctag]")
    if boxes.count():
        boxes.first.check()
    page.fill("#brush-colour", "#2040e0")
    box = page.locator("#hints").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 80, steps=5)
    page.mouse.up()
    page.click("#colorize")
    page.wait_for_function("() => document.getElementById('colorized').dataset.done === '1'", timeout=60_000)
    assert page.locator("#colorized").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [40, 30]
    assert page.locator("#colorize-status").inner_text() == ""
    page.close()


# -- the static export -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(
    steered: dict[str, Path],  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, str]]:
    from train.demo.export import export

    out = tmp_path_factory.mktemp("export") / "site"
    run = steered["dcgan"]
    export(run, store.load(run / "directions.json"), out)
    handler = functools.partial(_Quiet, directory=str(out))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_exported_page_renders_faces_in_the_browser(
    exported: tuple[Path, str],
    browser: Any,
    steered: dict[str, Path],  # noqa: F811
) -> None:
    from train.dcgan import load_generator

    out, base = exported
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html", "latent.js", "generator.js", "demo.js", "model.json", "weights.bin"]
    )
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(base + "index.html?seed=5&blue_hair=2")
    wait_shown(page)
    assert page.locator("#sample").evaluate("i => i.naturalWidth") == 32
    up = shown_blueness(page)
    page.locator('input[name="blue_hair"]').focus()
    page.keyboard.press("Home")
    wait_shown(page)
    assert up > shown_blueness(page) + 5
    assert requested and all(u.startswith(base) or u.startswith("data:") for u in requested), requested

    # the page's maths and generator against Python's and torch's
    run = steered["dcgan"]
    d = store.load(run / "directions.json")
    s = np.zeros(len(d.tags), np.float32)
    s[d.tags.index("blue_hair")] = 1.5
    z = latent.face(123, 0.8, d.nz, d.vectors, s)
    js = page.evaluate(
        """([s]) => { const cfg = JSON.parse(document.getElementById('config').textContent);
           const dirs = cfg.directions.map(r => Float32Array.from(r));
           return Array.from(Latent.face(123, 0.8, cfg.nz, dirs, s)); }""",
        [s.tolist()],
    )
    assert np.abs(np.array(js) - z).max() < 1e-5
    assert (
        np.abs(np.array(page.evaluate("() => Array.from(Latent.normal(42, 9))")) - latent.normal(42, 9)).max()
        < 1e-6
    )
    out_js = page.evaluate(
        """async ([z]) => { const cfg = JSON.parse(document.getElementById('config').textContent);
           const g = await Generator.load(cfg.model); return Array.from(g.run(Float32Array.from(z)).data); }""",
        [z.tolist()],
    )
    g, _ = load_generator(run)
    with torch.no_grad():
        ref = g(torch.from_numpy(z)[None])[0].permute(1, 2, 0).reshape(-1).numpy()  # HWC, as generator.js
    assert np.abs(np.array(out_js) - ref).max() < 1e-4
    page.close()


# -- the command -----------------------------------------------------------------------------------


def test_demo_command_serves_exports_and_refuses_bad_options(
    steered: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    from train.demo.app import run_demo

    run = steered["dcgan"]
    env = {**os.environ, **ONE_THREAD}
    run_demo(str(run), None, None, "127.0.0.1", 0, str(tmp_path / "site"), "cpu")
    assert (tmp_path / "site" / "index.html").is_file()
    # the command as a user starts it: it says where it serves
    proc = subprocess.Popen([sys.executable, "-m", "train", "demo", "--ckpt", str(run), "--port", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("train demo: serving http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[3]
        assert get(url + "sample.png?seed=1")[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with pytest.raises(UserError, match="--directions"):
        run_demo(str(run), str(tmp_path / "none.json"), None, "127.0.0.1", 0, None, "cpu")
    with pytest.raises(UserError, match="--port"):
        run_demo(str(run), None, None, "127.0.0.1", 70000, None, "cpu")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="--export"):
        run_demo(str(run), None, None, "127.0.0.1", 0, str(tmp_path / "file"), "cpu")
    shutil.rmtree(tmp_path / "site")
