"""The demo and the directions: slider latency, `train directions` time, and how selective the directions are.

    .venv/bin/python bench/bench_demo.py                      # all three parts, CPU
    .venv/bin/python bench/bench_demo.py --parts selective --world /tmp/demo-world --pictures docs/images

Parts:
- `latency`: a slider move to a new 96 px face. `train demo --port 0` in its own process with a 96 px
  DCGAN generator (ngf 64, nz 100, random weights saved as a `train dcgan` snapshot) and 32 random
  directions; each request moves one slider to a new value (`GET /sample.png?seed=..&<tag>=<value>`
  over HTTP with urllib, one at a time). Server side: the server's own time for the request (its
  `Server-Timing` header: parsing, z, forward pass, PNG); round trip: until the PNG is read. Side by
  side, interleaved, what a competent user would write without a server: the same z maths, one
  forward pass and a PNG encode in a loop. Median and 90th percentile.
- `directions`: `train directions --n 20000` (`run_directions`, 500 fresh samples per effect) with
  the same 96 px generator and a 96 px tagger (random weights, 32 tags), against the plain script a
  user would write for the same work: 20,000 samples generated and scored in batches of 256 under
  `torch.no_grad()`, the mean z of the top tenth minus the bottom tenth per tag, and each
  direction's effect on 500 fresh samples (33 x 500 more faces); only the strips and the page are
  left out of it.
- `layout`: per-image forward time of that generator and tagger, default layout at batch 256
  against `for_inference` (channels-last weights) at batch 32, 64 and 256.
- `selective`: on a trained pair, the share of tags whose direction raises its own tag's score by more
  than it moves any other tag (`selective_share` of directions.json), for `mean` and `linear`, also
  counted over the tags the tagger can see at all (held-out AP >= 0.5; the sample site's noise tags
  say nothing the picture shows). The
  pair is made here unless `--world` already holds it: face crops of the sample site's single-face
  synthetic posts (hair colour matches the tags; 32 px), a generator and `train tagger --tags 32`.
  The generator: `--generator glo` (default) fits the project's DCGAN `Generator` to the faces by
  generative latent optimisation (each face a fixed random z; a minute on a CPU), because on a
  2-core CPU `train dcgan` needs hours before hair colour follows z (`--generator dcgan --kimg K`
  trains one with the project's command instead, e.g. on a GPU).
`--pictures docs/images` also writes the README's pictures from the `selective` pair (or from the
one already in `--world`, with `--parts none`): the strip of `train directions` for `--picture-tag`
and a Chromium screenshot of `train demo`.
Prints one JSON line per figure and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawl.synthetic_faces import tagged_face_shards  # noqa: E402
from train.directions import latent, store  # noqa: E402
from train.glo import fit_glo  # noqa: E402
from train.models.dcgan import Generator, init_weights  # noqa: E402


def save_generator(out: Path, size: int = 96, nz: int = 100, ngf: int = 64) -> Path:
    """A randomly initialised generator saved as a `train dcgan` snapshot (BatchNorm stats as at init)."""
    torch.manual_seed(0)
    g = Generator(size, nz, ngf)
    g.apply(init_weights)
    sd = g.eval().state_dict()
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": "dcgan", "format": 1, "options": {"size": size, "nz": nz, "ngf": ngf}, "G": sd, "G_ema": sd},
               out / "network-snapshot-000000.000.pt")  # fmt: skip
    return out


def save_tagger(out: Path, size: int = 96, n_tags: int = 32, width: int = 32) -> Path:
    from train.tagger import TaggerNet

    torch.manual_seed(1)
    net = TaggerNet(size, n_tags, width).eval()
    out.mkdir(parents=True, exist_ok=True)
    tags = [f"tag_{i:02d}" for i in range(n_tags)]
    torch.save({"kind": "tagger", "format": 1, "options": {"width": width}, "tags": tags, "size": size,
                "net": net.state_dict()}, out / "network-snapshot-000000.000.pt")  # fmt: skip
    return out


def random_directions(path: Path, nz: int, n_tags: int) -> store.Directions:
    rng = np.random.default_rng(0)
    d = store.Directions(
        [f"tag_{i:02d}" for i in range(n_tags)], rng.normal(0, 0.3, (n_tags, nz)).astype(np.float32)
    )
    store.save(d, path)
    return d


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def bench_latency(tmp: Path, requests: int) -> dict[str, Any]:
    import subprocess

    from train.dcgan import load_generator
    from train.demo.studio import png

    run = save_generator(tmp / "g96")
    d = random_directions(run / "directions.json", 100, 32)
    rng = np.random.default_rng(1)
    moves = [(int(rng.integers(0, 1000)), d.tags[int(rng.integers(0, 32))], round(float(rng.uniform(-2, 2)), 1))
             for _ in range(requests)]  # fmt: skip
    g, _ = load_generator(run)

    def bare(seed: int, tag: str, v: float) -> None:
        """The competent user's loop: the same maths, forward pass and PNG encode, no server."""
        s = np.zeros(32, np.float32)
        s[d.tags.index(tag)] = v
        z = latent.face(seed, 1.0, 100, d.vectors, s)
        with torch.no_grad():
            x = g(torch.from_numpy(z)[None])
        png(((x[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())

    # `train demo` as a user starts it, in its own process
    proc = subprocess.Popen([sys.executable, "-m", "train", "demo", "--ckpt", str(run), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    server_ms, round_ms, bare_ms = [], [], []
    try:
        url = proc.stdout.readline().split()[3]  # "train demo: serving http://127.0.0.1:PORT/ ..."
        for seed, tag, v in moves[:5]:  # warm-up
            urllib.request.urlopen(f"{url}sample.png?seed={seed}&{tag}={v}").read()
            bare(seed, tag, v)
        for seed, tag, v in moves:  # interleaved, so that both see the same machine load
            t = time.perf_counter()
            with urllib.request.urlopen(f"{url}sample.png?seed={seed}&noise=1&{tag}={v}") as r:
                body = r.read()
                timing = r.headers["Server-Timing"]
            round_ms.append(1000 * (time.perf_counter() - t))
            server_ms.append(float(timing.split("dur=")[1]))
            assert body[:8] == b"\x89PNG\r\n\x1a\n"
            t = time.perf_counter()
            bare(seed, tag, v)
            bare_ms.append(1000 * (time.perf_counter() - t))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"part": "latency", "size": 96, "requests": requests,
            "server_median_ms": round(statistics.median(server_ms), 1), "server_p90_ms": round(pct(server_ms, 90), 1),
            "round_trip_median_ms": round(statistics.median(round_ms), 1),
            "bare_median_ms": round(statistics.median(bare_ms), 1), "bare_p90_ms": round(pct(bare_ms, 90), 1)}  # fmt: skip


def bench_directions(tmp: Path, n: int, effect_n: int) -> dict[str, Any]:
    from train.dcgan import load_generator
    from train.directions.run import run_directions
    from train.tagger import load_tagger

    run, tagger = save_generator(tmp / "g96d"), save_tagger(tmp / "t96")
    t = time.perf_counter()
    s = run_directions(run, tagger, n=n, effect_n=effect_n, device="cpu", progress=False)
    ours = time.perf_counter() - t

    # the plain script, the same work without the strips: sample, generate and score N faces in
    # batches of 256 under no_grad, top-minus-bottom mean z per tag, then each direction's effect
    # on effect_n fresh samples
    t = time.perf_counter()
    g, _ = load_generator(run)
    tg = load_tagger(tagger)

    @torch.no_grad()
    def scores_of(z: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [torch.sigmoid(tg.net(g(z[i : i + 256]).clamp(-1, 1))) for i in range(0, len(z), 256)]
        )

    z = torch.randn(n, 100, generator=torch.Generator().manual_seed(0))
    scores = scores_of(z)
    k = n // 10
    order = torch.argsort(scores, dim=0)
    vectors = torch.stack(
        [z[order[-k:, j]].mean(0) - z[order[:k, j]].mean(0) for j in range(scores.shape[1])]
    )
    fresh = torch.randn(effect_n, 100, generator=torch.Generator().manual_seed(1))
    base = scores_of(fresh)
    _ = torch.stack([(scores_of(fresh + v) - base).mean(0) for v in vectors])
    plain = time.perf_counter() - t
    faces = n + effect_n * (s["tags"] + 1)
    return {"part": "directions", "size": 96, "n": n, "effect_n": effect_n, "tags": s["tags"],
            "train_directions_s": round(ours, 1), "plain_script_s": round(plain, 1),
            "plain_faces": faces, "plain_img_per_s": round(faces / plain, 1),
            "speedup": round(plain / ours, 2)}  # fmt: skip


def bench_layout(images: int = 512) -> list[dict[str, Any]]:
    """Per-image forward time of the 96 px generator and tagger: default layout at batch 256 (what
    a plain script runs) against `for_inference` (channels-last weights) at 32, 64 and 256."""
    from train.engine.device import for_inference
    from train.tagger import TaggerNet

    torch.manual_seed(0)
    rows = []
    for layout in ("default", "channels_last"):
        g, tagger = Generator(96, 100, 64).eval(), TaggerNet(96, 32, 32).eval()
        if layout == "channels_last":
            for_inference(g, "cpu")
            for_inference(tagger, "cpu")
        for bs in (32, 64, 256) if layout == "channels_last" else (256,):
            z = torch.randn(bs, 100)
            x = torch.randn(bs, 3, 96, 96)
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            ms = {}
            with torch.inference_mode():
                for name, f in (("generator", lambda g=g, z=z: g(z)), ("tagger", lambda n=tagger, x=x: n(x))):
                    f()  # warm-up
                    t = time.perf_counter()
                    for _ in range(max(1, images // bs)):
                        f()
                    ms[name] = round(1000 * (time.perf_counter() - t) / (max(1, images // bs) * bs), 2)
            rows.append({"part": "layout", "layout": layout, "batch": bs, "generator_ms_per_img": ms["generator"],
                         "tagger_ms_per_img": ms["tagger"]})  # fmt: skip
    return rows


def build_world(world: Path, faces: int, kimg: float, generator: str) -> Path:
    """Faces, a generator (`train dcgan --size 32`, or fitted by GLO) and `train tagger` in `world`
    (each skipped when already there); returns the generator's run directory."""
    from train.dcgan import DCGANOptions
    from train.dcgan import train as train_dcgan
    from train.tagger import TaggerOptions
    from train.tagger import train as train_tagger

    if not (world / "faces" / "shards.json").exists():
        tagged_face_shards(world / "faces", faces)
    run = world / generator
    if generator == "glo" and not run.exists():
        fit_glo(world / "faces", run)
    if generator == "dcgan" and not (run / "latest.json").exists():
        train_dcgan(DCGANOptions(shards=str(world / "faces"), out=str(run), size=32, kimg=kimg,
                                 snap_kimg=kimg, tick_kimg=kimg / 10, swd_n=256, grid=64, workers=0,
                                 progress=False, resume="auto"))  # fmt: skip
    if not (world / "tagger" / "latest.json").exists():
        train_tagger(TaggerOptions(shards=str(world / "faces"), out=str(world / "tagger"), tags=32, kimg=10,
                                   tick_kimg=2, snap_kimg=10, workers=0, progress=False, resume="auto"))  # fmt: skip
    return run


def bench_selective(world: Path, faces: int, kimg: float, n: int, generator: str) -> list[dict[str, Any]]:
    from train.directions.run import run_directions

    run = build_world(world, faces, kimg, generator)
    rows = []
    for method in ("mean", "linear"):
        out = run / ("directions.json" if method == "mean" else f"directions-{method}.json")
        s = run_directions(run, world / "tagger", n=n, method=method, out=out, progress=False)
        doc = json.loads(out.read_text())
        ap = json.loads((world / "tagger" / "_stats.json").read_text())["ap"]
        seen = [t for t in doc["tags"] if (ap.get(t) or 0) >= 0.5]  # tags the tagger can see at all
        rows.append({"part": "selective", "generator": generator, "method": method,
                     "visible_tags": len(seen), "visible_selective": sum(doc["selective"][t] for t in seen), "n": n, "tags": s["tags"],
                     "selective_share": doc["selective_share"], "selective_count": doc["selective_count"],
                     "mean_own_gain": s["mean_own_gain"], "time_s": s["time_s"], "out": str(out)})  # fmt: skip
    return rows


def pictures(run: Path, out: Path, tag: str) -> list[Path]:
    """The README's pictures: `train directions`' strip for `tag`, and a screenshot of `train demo`
    (Debian's chromium through Playwright) with that tag's slider up."""
    import shutil

    from playwright.sync_api import sync_playwright

    from train.demo.server import start
    from train.demo.studio import Studio
    from train.directions.page import safe_name

    d = store.load(run / "directions.json")
    out.mkdir(parents=True, exist_ok=True)
    strip = out / f"directions-{tag}.png"
    shutil.copyfile(run / "directions" / safe_name(d.tags.index(tag), tag), strip)
    shot = out / "demo-screenshot.png"
    srv = start(Studio(run, d), port=0)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1100, "height": 760})
            page.goto(f"{srv.url}?seed=3&noise=1&{tag}=1.5")
            page.wait_for_function("() => { const i = document.getElementById('sample'); "
                                   "return i.dataset.shown === i.dataset.want && i.naturalWidth > 0; }")  # fmt: skip
            page.screenshot(path=str(shot))
            b.close()
    finally:
        srv.shutdown()
        srv.server_close()
    return [strip, shot]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="latency,directions,selective")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--effect-n", type=int, default=500)
    ap.add_argument("--world", type=Path, default=None, help="folder for (or with) the trained pair")
    ap.add_argument("--faces", type=int, default=1000)
    ap.add_argument(
        "--generator",
        choices=("glo", "dcgan"),
        default="glo",
        help="selective: fit the generator by GLO (about a minute on a CPU) or train dcgan --kimg",
    )
    ap.add_argument("--kimg", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--pictures",
        type=Path,
        default=None,
        help="selective: also write the README's strip and demo screenshot into this folder",
    )
    ap.add_argument("--picture-tag", default="aqua_hair")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(
        json.dumps(
            {"machine": platform.machine(), "cpus": torch.get_num_threads(), "torch": torch.__version__}
        )
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        parts = a.parts.split(",")
        if "latency" in parts:
            rows.append(bench_latency(Path(tmp), a.requests))
            print(json.dumps(rows[-1]), flush=True)
        if "layout" in parts:
            for r in bench_layout():
                rows.append(r)
                print(json.dumps(r), flush=True)
        if "directions" in parts:
            rows.append(bench_directions(Path(tmp), a.n, a.effect_n))
            print(json.dumps(rows[-1]), flush=True)
        if "selective" in parts:
            world = a.world or Path(tmp) / "world"
            for r in bench_selective(world, a.faces, a.kimg, a.n, a.generator):
                rows.append(r)
                print(json.dumps(r), flush=True)
        if (
            a.pictures is not None
        ):  # with --parts selective, or from a --world that already has its directions
            world = a.world or Path(tmp) / "world"
            for path in pictures(world / a.generator, a.pictures, a.picture_tag):
                print(f"wrote {path}")
    print("\n| part | figures |\n|---|---|")
    for r in rows:
        print(f"| {r['part']} | " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "part") + " |")


if __name__ == "__main__":
    main()
