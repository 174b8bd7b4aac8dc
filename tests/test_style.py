"""`train style` and its VGG-19 loader: a randomly initialised VGG-19 saved in the real formats, tiny images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import UserError
from train.models import vgg as vggmod
from train.models.vgg import LAYERS, Preprocess, detect_preprocess, layer_index, load_vgg19, random_vgg19


@pytest.fixture(scope="session")
def vgg_files(tmp_path_factory) -> dict[str, Path]:
    """One random VGG-19 saved once per session as .pth (with old-style classifier keys), .safetensors,
    and under the two well-known torch.hub names."""
    d = tmp_path_factory.mktemp("vgg")
    state = random_vgg19(seed=0).state_dict()
    full = {**state, "classifier.1.weight": torch.zeros(4, 3), "classifier.4.bias": torch.zeros(4)}
    torch.save(full, d / "vgg19-random.pth")
    vggmod.save_safetensors(state, d / "vgg19-random.safetensors")
    (d / "vgg19-dcbb9e9d.pth").symlink_to(d / "vgg19-random.pth")
    (d / "vgg19-d01eb7cb.pth").symlink_to(d / "vgg19-random.pth")
    return {
        "pth": d / "vgg19-random.pth",
        "safetensors": d / "vgg19-random.safetensors",
        "torchvision": d / "vgg19-dcbb9e9d.pth",
        "caffe": d / "vgg19-d01eb7cb.pth",
    }


# --- the VGG-19 loader ---


def test_layer_names_follow_torchvision_indices():
    assert LAYERS["conv1_1"] == 0 and LAYERS["relu1_1"] == 1 and LAYERS["pool1"] == 4
    assert LAYERS["conv4_2"] == 21 and LAYERS["relu4_2"] == 22 and LAYERS["relu5_1"] == 29
    assert LAYERS["relu5_4"] == 35 and LAYERS["pool5"] == 36 and len(vggmod.CONV_INDICES) == 16
    keys = list(random_vgg19().state_dict())
    assert keys[0] == "features.0.weight" and keys[-1] == "features.34.bias" and len(keys) == 32
    with pytest.raises(UserError, match="--style-layers: unknown VGG-19 layer 'relu6_1'"):
        layer_index("relu6_1", "--style-layers")


def test_pth_and_safetensors_load_the_same_network(vgg_files):
    ref = torch.load(vgg_files["pth"], weights_only=True)
    a, _ = load_vgg19(vgg_files["pth"], "torchvision")
    b, _ = load_vgg19(vgg_files["safetensors"], "torchvision")
    for k, v in a.state_dict().items():
        assert torch.equal(v, ref[k]) and torch.equal(v, b.state_dict()[k])
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
    x = torch.rand(1, 3, 32, 32)
    feats = a(x, ["relu1_1", "relu4_2"])
    assert feats["relu1_1"].shape == (1, 64, 32, 32) and feats["relu4_2"].shape == (1, 512, 4, 4)
    assert torch.equal(feats["relu4_2"], a(x, ["relu4_2"])["relu4_2"])


def test_preprocess_detection(vgg_files, monkeypatch):
    p = detect_preprocess(vgg_files["torchvision"])
    assert p.mode == "torchvision" and "dcbb9e9d" in p.how
    p = detect_preprocess(vgg_files["caffe"])
    assert p.mode == "caffe" and "Caffe" in p.how
    p = detect_preprocess(vgg_files["pth"])
    assert p.mode == "torchvision" and "unknown" in p.how and "--vgg-preprocess caffe" in p.how
    assert detect_preprocess(vgg_files["caffe"], "torchvision").mode == "torchvision"
    # a renamed well-known file is still recognised by its content's sha256
    digest = vggmod.sha256_file(vgg_files["pth"])
    monkeypatch.setitem(vggmod.KNOWN_FILES, digest[:8], ("caffe", "a test file"))
    p = detect_preprocess(vgg_files["pth"])
    assert p.mode == "caffe" and "file's sha256" in p.how
    with pytest.raises(UserError, match="--vgg-preprocess must be one of"):
        detect_preprocess(vgg_files["pth"], "bgr")


def test_preprocess_modes():
    rgb = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1)
    tv = Preprocess("torchvision")(rgb).flatten()
    assert torch.allclose(
        tv,
        (torch.tensor([0.2, 0.5, 0.8]) - torch.tensor(vggmod.IMAGENET_MEAN))
        / torch.tensor(vggmod.IMAGENET_STD),
    )
    caffe = Preprocess("caffe")(rgb).flatten()
    assert torch.allclose(caffe, torch.tensor([0.8 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68]))


def test_bad_weights_files(tmp_path):
    with pytest.raises(UserError, match=r"^--vgg-weights .*nope.pth: no such file"):
        load_vgg19(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match=r"--vgg-weights .*not a readable torch state-dict file"):
        load_vgg19(junk)
    junk_st = tmp_path / "junk.safetensors"
    junk_st.write_bytes(b"\xff" * 64)
    with pytest.raises(UserError, match=r"--vgg-weights .*not a readable safetensors file"):
        load_vgg19(junk_st)
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    with pytest.raises(UserError, match=r"not a VGG-19 state dict.*no features.N.weight keys"):
        load_vgg19(other)
    vgg16ish = tmp_path / "vgg16.safetensors"
    state = random_vgg19().state_dict()
    del state["features.34.weight"], state["features.34.bias"]
    vggmod.save_safetensors(state, vgg16ish)
    with pytest.raises(UserError, match=r"not a VGG-19 state dict.*missing"):
        load_vgg19(vgg16ish)
    bn = tmp_path / "bn.pth"
    torch.save({**random_vgg19().state_dict(), "features.1.running_mean": torch.zeros(64)}, bn)
    with pytest.raises(UserError, match=r"unexpected tensors such as features\.1\.running_mean"):
        load_vgg19(bn)
    module = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(3, 4), module)
    with pytest.raises(UserError, match="not a readable torch state-dict file"):
        load_vgg19(module)


def test_safetensors_round_trip_of_dtypes(tmp_path):
    state = {
        "a": torch.arange(6, dtype=torch.float16).view(2, 3),
        "b": torch.tensor([1, -2], dtype=torch.int64),
        "c": torch.rand(3, dtype=torch.bfloat16),
        "e": torch.zeros(0),
    }
    vggmod.save_safetensors(state, tmp_path / "t.safetensors")
    back = vggmod.read_safetensors(tmp_path / "t.safetensors")
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)


# --- train style ---

TEXTURE_SEED = 3


def _write(path: Path, rgb: np.ndarray) -> Path:
    import cv2

    cv2.imwrite(
        str(path), cv2.cvtColor(np.ascontiguousarray(rgb.clip(0, 255).astype(np.uint8)), cv2.COLOR_RGB2BGR)
    )
    return path


def _photo(h: int, w: int, disc: bool = True) -> np.ndarray:
    """A smooth, muted 'photo': gradients, a disc (unless not `disc`), mid-range colours."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([90 + 60 * xx / w, 110 + 30 * np.sin(yy / 5), 150 - 40 * yy / h], -1)
    if disc:
        img[((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (min(h, w) / 4) ** 2] += [40, -20, -30]
    return img


def _blobs(h: int, w: int) -> np.ndarray:
    """An aperiodic colourful texture (blurred noise, contrast stretched)."""
    import cv2

    blob = cv2.GaussianBlur(np.random.default_rng(TEXTURE_SEED).uniform(0, 255, (h, w, 3)), (0, 0), 1.5)
    return (blob - blob.mean()) * 3 + 128


def _stripes(h: int, w: int, colour_a, colour_b, vertical: bool, period: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((xx if vertical else yy) // (period // 2)) % 2 == 0
    noise = np.random.default_rng(TEXTURE_SEED).normal(0, 12, (h, w, 1))
    return np.where(on[..., None], np.array(colour_a, float), np.array(colour_b, float)) + noise


@pytest.fixture(scope="session")
def caffe_vgg(vgg_files) -> Path:
    """The random VGG-19 under the Caffe conversion's name: `auto` picks BGR 0-255 input, whose scale
    gives a random network loss magnitudes like the real one's."""
    return vgg_files["caffe"]


def _settings(tmp_path: Path, vgg: Path, **kw):
    from train.style.settings import StyleSettings

    base = {"content": str(tmp_path / "content.png"), "vgg_weights": str(vgg), "out": str(tmp_path / "out.png"),
            "device": "cpu", "progress": False}  # fmt: skip
    return StyleSettings(**{**base, **kw})


def _run(tmp_path: Path, vgg: Path, **kw) -> tuple[np.ndarray, dict]:
    from train.style.imageio import read_rgb
    from train.style.run import run_style

    record = run_style(_settings(tmp_path, vgg, **kw))
    out = Path(kw.get("out", tmp_path / "out.png"))
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(json.dumps(record))
    return read_rgb(out, "--out").astype(np.float64), record


def test_style_loss_falls_fivefold_in_50_iterations(tmp_path, caffe_vgg, one_torch_thread):
    _write(tmp_path / "content.png", _photo(40, 40))
    style = _write(tmp_path / "style.png", _stripes(48, 48, (230, 40, 40), (30, 200, 60), vertical=True))
    # a random network has no calibrated loss scale: total variation (1e-3) would outweigh its style loss
    _, rec = _run(tmp_path, caffe_vgg, style=[str(style)], iters=50, tv_weight=0.0)
    losses = rec["losses"]
    assert [list(x) for x in losses[:1]] == [["iter", "content", "style", "tv", "total"]]
    assert [x["iter"] for x in losses] == list(range(1, 51))
    assert losses[-1]["style"] * 5 <= losses[0]["style"], (losses[0], losses[-1])
    assert losses[0]["content"] == 0.0 and losses[-1]["content"] > 0  # content init, then pulled by the style
    assert (
        rec["resolved"]["vgg_preprocess"] == "caffe"
        and "d01eb7cb" in rec["resolved"]["vgg_preprocess_reason"]
    )
    assert rec["settings"]["iters"] == 50 and rec["settings"]["style_weight"] == 100.0
    assert rec["seconds"] > 0 and rec["peak_memory_gib"]["rss_peak_gib"] > 0
    assert rec["scales"] == [{**rec["scales"][0], "size": [40, 40], "tiles": [1, 1], "iters": [1, 50]}]


def _yiq(rgb: np.ndarray) -> np.ndarray:
    from train.style.color import _RGB2YIQ

    return rgb @ _RGB2YIQ.numpy().T.astype(np.float64)


def test_luminance_keeps_the_content_colour_channels(tmp_path, caffe_vgg, one_torch_thread):
    content = _photo(32, 32)
    _write(tmp_path / "content.png", content)
    style = _write(tmp_path / "style.png", _stripes(32, 32, (250, 30, 30), (20, 220, 40), vertical=False))
    out, rec = _run(tmp_path, caffe_vgg, style=[str(style)], iters=8, preserve_color="luminance")
    content = np.round(content.clip(0, 255))
    inside = ((out > 0) & (out < 255)).all(-1)  # pixels not clipped to the gamut
    assert inside.mean() > 0.9
    chroma = np.abs(_yiq(out)[..., 1:] - _yiq(content)[..., 1:])[inside]
    assert chroma.max() <= 3.0, chroma.max()
    assert np.abs(_yiq(out)[..., 0] - _yiq(content)[..., 0]).mean() > 1.0  # the luminance did change
    assert rec["settings"]["preserve_color"] == "luminance"


def _colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = a.reshape(-1, 3), b.reshape(-1, 3)
    return float(np.linalg.norm(fa.mean(0) - fb.mean(0)) + np.linalg.norm(np.cov(fa.T) - np.cov(fb.T)) ** 0.5)


def test_histogram_brings_the_colours_closer_to_the_content(tmp_path, caffe_vgg, one_torch_thread):
    content = _photo(32, 32)
    _write(tmp_path / "content.png", content)
    style = _write(tmp_path / "style.png", _stripes(32, 32, (250, 30, 30), (240, 230, 20), vertical=True))
    args = {"style": [str(style)], "iters": 10, "tv_weight": 0.0}
    none, _ = _run(tmp_path, caffe_vgg, out=str(tmp_path / "none.png"), **args)
    hist, _ = _run(tmp_path, caffe_vgg, out=str(tmp_path / "hist.png"), preserve_color="histogram", **args)
    d_none, d_hist = _colour_distance(none, content), _colour_distance(hist, content)
    assert d_hist < d_none, (d_hist, d_none)


def _gradient_profile(img: np.ndarray, axis: int) -> np.ndarray:
    """Mean absolute difference between neighbouring columns (axis=1) or rows (axis=0)."""
    return np.abs(np.diff(img, axis=axis)).mean(axis=(1 - axis, 2))


def test_tiled_output_shows_no_seam(tmp_path, caffe_vgg, one_torch_thread):
    # no edges in the content where the tiles meet: what the profile shows there comes from the tiling
    _write(tmp_path / "content.png", _photo(64, 64, disc=False))
    style = _write(tmp_path / "style.png", _blobs(64, 64))
    out, rec = _run(
        tmp_path, caffe_vgg, style=[str(style)], iters=12, tile=48, tile_overlap=16, tv_weight=0.0
    )
    assert rec["scales"][0]["tiles"] == [2, 2] and rec["scales"][0]["overlap"] == 16
    # the tiles meet at 32 (overlap 24..40, the cuts shift by up to 8): the band 16..48 holds every border.
    # (Tiles with hard edges, neither blended nor shifted, fail: across columns the band peaks at 18.5 vs 12.0.)
    band = np.zeros(63, bool)
    band[16:48] = True
    for axis in (0, 1):
        prof = _gradient_profile(out, axis)
        assert prof[band].max() <= prof[~band].max(), (axis, prof.round(1))
        assert prof[band].mean() <= 1.1 * prof[~band].mean(), (axis, prof.round(1))


def test_automatic_per_tile_styles_match_each_region(tmp_path, caffe_vgg, one_torch_thread):
    red = _stripes(32, 32, (220, 40, 40), (160, 30, 30), vertical=False)
    blue = _stripes(32, 32, (40, 60, 220), (30, 30, 150), vertical=True)
    content = np.concatenate([red[:, :32] * 0.8 + 30, blue[:, :32] * 0.8 + 30], 1)
    _write(tmp_path / "content.png", content)
    styles = tmp_path / "styles"
    styles.mkdir()
    _write(styles / "blue.png", _stripes(40, 40, (30, 80, 250), (10, 10, 120), vertical=True))
    _write(styles / "red.png", _stripes(40, 40, (250, 50, 30), (120, 10, 10), vertical=False))
    (styles / "notes.txt").write_text("not an image")
    out, rec = _run(tmp_path, caffe_vgg, tile_styles=str(styles), iters=8, tile=48, tile_overlap=16)
    chosen = {tuple(t["tile"]): t["styles"] for t in rec["tile_styles"]}
    assert chosen == {(0, 0): {"red.png": 1.0}, (0, 1): {"blue.png": 1.0}}
    left, right = out[:, :24].reshape(-1, 3).mean(0), out[:, 40:].reshape(-1, 3).mean(0)
    assert left[0] > left[2] and right[2] > right[0]

    # the same styles given by a map, swapped: the map wins, and the tiles follow it
    (styles / "map.json").write_text(json.dumps({"grid": [["blue.png", {"red.png": 1}]]}))
    out, rec = _run(tmp_path, caffe_vgg, tile_styles=str(styles / "map.json"), iters=8, tile=48, tile_overlap=16,
                    out=str(tmp_path / "mapped.png"))  # fmt: skip
    assert [t["styles"] for t in rec["tile_styles"]] == [{"blue.png": 1.0}, {"red.png": 1.0}]
    right_mapped = out[:, 40:].reshape(-1, 3).mean(0)
    assert right_mapped[0] - right_mapped[2] > right[0] - right[2]


def test_bad_input_is_one_line_naming_the_option(tmp_path, vgg_files):
    from train.style.run import run_style

    _write(tmp_path / "content.png", _photo(32, 32))
    style = str(_write(tmp_path / "style.png", _stripes(32, 32, (200, 0, 0), (0, 0, 200), True)))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.weight": torch.zeros(10, 8)}, other)
    (tmp_path / "empty").mkdir()
    good = vgg_files["pth"]
    cases = [
        ({"vgg_weights": str(tmp_path / "missing.pth")}, "--vgg-weights", "no such file"),
        ({"vgg_weights": str(junk)}, "--vgg-weights", "not a readable"),
        ({"vgg_weights": str(other)}, "--vgg-weights", "not a VGG-19 state dict"),
        ({"style_layers": "relu1_1,relu9_9"}, "--style-layers", "unknown VGG-19 layer 'relu9_9'"),
        ({"content_layers": "conv4_2x"}, "--content-layers", "unknown VGG-19 layer"),
        ({"content": str(tmp_path / "broken.png")}, "--content", "not a usable image"),
        ({"style": [str(tmp_path / "broken.png")]}, "--style", "not a usable image"),
        ({"tile": 64, "tile_overlap": 64}, "--tile-overlap", "must be smaller than --tile"),
        ({"style": [], "tile_styles": str(tmp_path / "empty")}, "--tile-styles", "no images"),
        ({"style_blend": "0.7,0.3"}, "--style-blend", "2 weights for 1"),
        ({"optimizer": "sgd"}, "--optimizer", "must be one of"),
    ]
    for kw, option, words in cases:
        kw = {"style": [style], "vgg_weights": str(good), **kw}
        with pytest.raises(UserError) as e:
            run_style(_settings(tmp_path, Path(kw.pop("vgg_weights")), **kw))
        msg = str(e.value)
        assert msg.startswith(option) and words in msg and "\n" not in msg, (option, msg)
        assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.json").exists()


def test_cli_bad_input_exits_2_with_one_line(tmp_path, vgg_files):
    from tests.conftest import run_cli

    _write(tmp_path / "content.png", _photo(32, 32))
    r = run_cli("train", "style", "--content", str(tmp_path / "content.png"), "--style", str(tmp_path / "content.png"),
                "--vgg-weights", str(vgg_files["pth"]), "--out", str(tmp_path / "out.png"), "--tile", "64",
                "--tile-overlap", "80", env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "train: error: --tile-overlap 80 must be smaller than --tile 64 (e.g. --tile-overlap 16)"
    ]
    assert not list(tmp_path.glob("out*"))


def test_tile_windows_add_up_to_one_under_every_shift():
    from train.style.tiles import count, grid, max_shift, window

    h, w, overlap = 90, 120, 16
    rows, cols = count(h, 48, overlap), count(w, 48, overlap)
    assert (rows, cols) == (3, 4)
    my, mx = max_shift(h, rows, overlap, 48), max_shift(w, cols, overlap, 48)
    assert my > 0 and mx > 0
    for shift in [(0, 0), (my, -mx), (-my, mx)]:
        total = torch.zeros(h, w)
        for t in grid(h, w, rows, cols, overlap, shift):
            assert max(t.shape) <= 48
            t.crop(total).add_(window(t.y)[:, None] * window(t.x)[None, :])
        assert torch.allclose(total, torch.ones(h, w), atol=1e-6)


def test_max_memory_plan_says_what_it_chose():
    from train.models.vgg import LAYERS
    from train.style.memory import GIB, plan, run_bytes

    kw = {"tile": None, "overlap": None, "regions": None, "last": LAYERS["relu5_1"], "channels": 3,
          "optimizer": "lbfgs", "history": 100, "auto_scales": True}  # fmt: skip
    plans, notes = plan([(4096, 4096)], max_memory_gib=16, **kw)
    assert [max(p.h, p.w) for p in plans] == [1024, 2048, 4096] and plans[0].rows == 1
    assert plans[-1].rows > 1 and plans[-1].history < 100 and "added for --max-memory" in notes[0]
    for p in plans:
        ext = (-(-p.h // p.rows) + p.overlap, -(-p.w // p.cols) + p.overlap)
        assert run_bytes(p.h, p.w, ext, kw["last"], 3, "lbfgs", p.history) <= 16 * GIB
    plans, notes = plan([(512, 512)], max_memory_gib=16, **kw)
    assert len(plans) == 1 and plans[0].rows == 1 and plans[0].history == 100
    with pytest.raises(UserError, match=r"^--max-memory 0\.05: too small"):
        plan([(1024, 1024)], max_memory_gib=0.05, **kw)


def test_scales_ladder_adam_and_noise_start(tmp_path, caffe_vgg, one_torch_thread):
    _write(tmp_path / "content.png", _photo(48, 64))
    style = _write(tmp_path / "style.png", _blobs(32, 32))
    out, rec = _run(tmp_path, caffe_vgg, style=[str(style)], scales="32,48", size=64, iters=3, optimizer="adam",
                    init="noise", noise_ratio=0.5)  # fmt: skip
    assert [(s["size"], s["iters"]) for s in rec["scales"]] == [([32, 24], [1, 3]), ([48, 36], [4, 6]),
                                                                ([64, 48], [7, 9])]  # fmt: skip
    assert (
        out.shape == (48, 64, 3) and rec["resolved"]["lr"] == 0.02 and rec["resolved"]["noise_ratio"] == 0.5
    )
