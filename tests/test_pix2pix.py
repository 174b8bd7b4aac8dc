"""`train pix2pix`: the models, conditioning, hints, validation and real tiny training runs on line-art shards."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.shards import write_index, write_shard
from core.vocab import Vocab
from crawl import synthetic

HAIRS = ("red_hair", "blue_hair")
VOCAB_TAGS = ("1girl", "smile", "red_hair", "blue_hair", "solo")


def face_pair(post_id: int, hair_tag: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB colour image, line art) of a synthetic face whose hair is painted `hair_tag`'s colour.

    The line art comes from the same face drawn with grey hair, so it is identical for every hair
    colour: the colour can only be learned from the tag.
    """
    rng = np.random.default_rng(post_id)
    canvas = 96
    bg = tuple(int(v) for v in rng.integers(200, 256, size=3))
    s = int(rng.integers(56, 68))
    x, y = (int(v) for v in rng.integers(10, canvas - s - 10, size=2))
    eye = synthetic.EYE_COLOURS[sorted(synthetic.EYE_COLOURS)[post_id % len(synthetic.EYE_COLOURS)]]

    def draw(hair: tuple[int, int, int]) -> np.ndarray:
        img = np.empty((canvas, canvas, 3), np.uint8)
        img[:] = bg
        synthetic._draw_face(img, (x, y, s, s), hair, eye, np.random.default_rng(post_id))
        return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)

    colour = draw(synthetic.HAIR_COLOURS[hair_tag])
    grey = draw((128, 128, 128))
    line = 255 - cv2.Canny(cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY), 100, 200)
    return colour, line


def _png(img: np.ndarray) -> bytes:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def make_lineart_shards(
    folder: Path,
    n_posts: int = 40,
    size: int = 32,
    per_shard: int = 30,
    with_tags: bool = True,
    vocab_file: bool = True,
) -> Vocab:
    """Line-art shards as `prep canny` writes them: every post twice, with red and with blue hair."""
    meta = {"top": 10, "min_count": 1, "exclude_meta": True, "source_posts": n_posts}
    vocab = Vocab(tags=VOCAB_TAGS, counts=tuple(range(len(VOCAB_TAGS), 0, -1)), meta=meta)
    samples = []
    for pid in range(1000, 1000 + n_posts):
        for hair in HAIRS:
            colour, line = face_pair(pid, hair, size)
            tags = ["1girl", "smile", "solo", hair]
            meta = {
                "post_id": pid,
                "tags": tags,
                "low": 100,
                "high": 200,
                "invert": True,
                "vocab_hash": vocab.hash,
            }
            files = {"color.png": _png(colour), "line.png": _png(line)}
            if with_tags:
                buf = __import__("io").BytesIO()
                np.save(buf, vocab.vector(tags), allow_pickle=False)
                files["tags.npy"] = buf.getvalue()
            files["json"] = json.dumps(meta, sort_keys=True).encode()
            samples.append((f"p{pid:010d}_{hair[0]}", files))
    folder.mkdir(parents=True, exist_ok=True)
    infos = [
        write_shard(folder / f"lineart-{i // per_shard:06d}.tar", samples[i : i + per_shard])
        for i in range(0, len(samples), per_shard)
    ]
    write_index(folder, infos, "lineart")
    if vocab_file:
        (folder / "vocab.json").write_text(json.dumps(vocab.to_json()))
    return vocab


def hair_region(post_id: int, size: int) -> np.ndarray:
    """Pixels whose colour differs between the red- and blue-haired versions of a face."""
    red, _ = face_pair(post_id, "red_hair", size)
    blue, _ = face_pair(post_id, "blue_hair", size)
    return np.abs(red.astype(int) - blue.astype(int)).sum(2) > 100


def tiny_options(shards: Path, out: Path, **kw: object) -> object:
    from train.pix2pix import Pix2PixOptions

    base = dict(
        shards=str(shards), out=str(out), size=32, ngf=8, ndf=8, batch=8, steps=4, tags_mode="embed",
        tick_kimg=0.016, val_kimg=0.016, snap_kimg=100.0, val_fraction=0.15, workers=0, progress=False,
        data="memory",
    )  # fmt: skip
    base.update(kw)
    return Pix2PixOptions(**base)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def lineart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lineart")
    make_lineart_shards(folder, n_posts=40, size=32)
    return folder


@pytest.fixture(scope="session")
def trained_run(lineart_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real run (32 px, embed tags, hints) long enough to learn hair colour from the tag."""
    import torch

    from train.pix2pix import train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "p2p"
    o = tiny_options(
        lineart_dir, out, ngf=16, ndf=16, batch=16, steps=150, lr=5e-4, tick_kimg=0.8, val_kimg=0.8
    )
    train(o)
    torch.set_num_threads(n)
    return out


# -- models ----------------------------------------------------------------------------------------


def test_unet_depth_follows_size_and_output_is_tanh() -> None:
    import torch

    from train.models.unet import UNetGenerator, unet_depth

    assert [unet_depth(s) for s in (32, 96, 128, 256, 512)] == [5, 5, 7, 8, 8]
    with pytest.raises(ValueError):
        unet_depth(100)
    g = UNetGenerator(6, 96, ngf=4, tag_dim=7)
    out = g(torch.randn(2, 6, 96, 96) * 5, torch.rand(2, 7))
    assert out.shape == (2, 3, 96, 96)
    assert out.abs().max() <= 1.0
    assert any(isinstance(m, torch.nn.Dropout) for m in g.modules())
    big = UNetGenerator(5, 256)  # the classic U-Net 256: 54.4M parameters, 3 dropout blocks
    assert round(sum(p.numel() for p in big.parameters()) / 1e6, 1) == 54.4
    assert sum(isinstance(m, torch.nn.Dropout) for m in big.modules()) == 3


def test_normalisation_does_not_depend_on_the_batch() -> None:
    """GroupNorm: a sample's output is the same alone or in a batch, in train mode too (no dropout)."""
    import torch

    from train.models.patchgan import PatchDiscriminator
    from train.models.unet import UNetGenerator

    torch.manual_seed(0)
    g = UNetGenerator(5, 32, ngf=8, dropout=0.0).train()
    d = PatchDiscriminator(8, 2, ndf=8).train()
    x = torch.randn(4, 5, 32, 32)
    y = torch.randn(4, 3, 32, 32)
    assert torch.allclose(g(x)[1:2], g(x[1:2]), atol=1e-5)
    assert torch.allclose(d(x, y)[2:3], d(x[2:3], y[2:3]), atol=1e-5)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_receptive_field_is_what_it_says(n_layers: int) -> None:
    """The gradient of one logit w.r.t. the input is non-zero only inside the stated receptive field
    (of the convolutions; the normalisation's per-image statistics are global by design)."""
    import torch

    from train.models.patchgan import PatchDiscriminator, default_layers, receptive_field

    assert receptive_field(3) == 70 and receptive_field(2) == 34 and receptive_field(1) == 16
    assert default_layers(96) == 2 and default_layers(256) == 3
    d = PatchDiscriminator(1 + 3, n_layers, ndf=4)
    for i, m in enumerate(d.net):  # GroupNorm's statistics span the image: take them out of the picture
        if isinstance(m, torch.nn.GroupNorm):
            d.net[i] = torch.nn.Identity()
    x = torch.randn(1, 1, 128, 128, requires_grad=True)
    out = d(x, torch.randn(1, 3, 128, 128))
    h, w = out.shape[2:]
    out[0, 0, h // 2, w // 2].backward()
    ys, xs = torch.nonzero(x.grad[0, 0]).unbind(1)
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    assert receptive_field(n_layers) - 3 <= extent <= receptive_field(n_layers)


# -- conditioning and hints ----------------------------------------------------------------------------


def test_tag_plane_layout_and_too_large_vocabulary() -> None:
    import torch

    from core.errors import UserError
    from train.conditioning import build_condition, check_plane_fits, condition_channels, tag_plane

    tags = torch.tensor([[1.0, 0, 1, 1, 0, 1]])
    plane = tag_plane(tags, 4, 3)
    assert plane.shape == (1, 1, 4, 3)
    assert plane.flatten().tolist() == [1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]  # row-major, rest zero
    assert (
        condition_channels("none") == 5
        and condition_channels("plane") == 6
        and condition_channels("embed") == 5
    )
    line, rgb, mask = torch.zeros(1, 1, 4, 3), torch.zeros(1, 3, 4, 3), torch.zeros(1, 1, 4, 3)
    assert build_condition(line, rgb, mask, tags, "plane").shape == (1, 6, 4, 3)
    check_plane_fits(1024, 32)
    with pytest.raises(UserError, match="--tags-mode embed"):
        check_plane_fits(1025, 32)


def test_simulated_hints_share_size_and_local_colour() -> None:
    import torch

    from train.hints import patch_sides, simulate_hints

    assert patch_sides(96) == (2, 6)
    target = torch.rand(400, 3, 32, 32) * 2 - 1
    rgb, mask = simulate_hints(target, torch.Generator().manual_seed(1), p_none=0.5, max_patches=4)
    none = (mask.flatten(1).sum(1) == 0).float().mean().item()
    assert 0.4 < none < 0.6
    assert mask.flatten(1).sum(1).max() <= 4 * patch_sides(32)[1] ** 2
    rgb2, mask2 = simulate_hints(target, torch.Generator().manual_seed(1), p_none=0.5, max_patches=4)
    assert torch.equal(rgb, rgb2) and torch.equal(mask, mask2)
    # a constant-colour target gives hints of exactly that colour
    flat = torch.full((8, 3, 32, 32), 0.25)
    rgb, mask = simulate_hints(flat, torch.Generator().manual_seed(2), p_none=0.0)
    assert (mask.flatten(1).sum(1) > 0).all()
    assert torch.allclose(rgb[mask.expand_as(rgb) > 0], torch.tensor(0.25))
    assert (rgb[mask.expand_as(rgb) == 0] == 0).all()


def test_hints_from_image_keep_small_dots_when_shrinking() -> None:
    from train.hints import hints_from_image

    img = np.zeros((256, 256, 4), np.uint8)
    img[100:103, 50:53] = (255, 0, 0, 255)  # a 3 px red dot on a transparent image
    rgb, mask = hints_from_image(img, 32)
    assert mask.sum() >= 1
    ys, xs = np.nonzero(mask[0, 0].numpy())
    assert rgb[0, 0, ys[0], xs[0]] > 0.99 and rgb[0, 1, ys[0], xs[0]] < -0.99


def test_crop_and_flip_are_the_same_for_line_and_colour() -> None:
    import torch

    from train.conditioning import crop_flip

    line = torch.ones(16, 1, 32, 32)
    line[:, :, 4:20, 6:9] = -1.0  # a vertical stroke, white border
    colour = line.expand(-1, 3, -1, -1).clone()
    c, ln = crop_flip(colour, line, torch.Generator().manual_seed(3), pad=3)
    assert torch.equal(c, ln.expand(-1, 3, -1, -1))
    assert not all(torch.equal(ln[0], ln[i]) for i in range(16))  # the offsets vary


# -- validation ----------------------------------------------------------------------------------------


def test_split_by_post_never_splits_a_post() -> None:
    from train.validation import split_by_post

    posts = [p for p in range(200) for _ in range(3)]
    train, val = split_by_post(posts, 0.1, seed=0)
    assert sorted(train + val) == list(range(600))
    assert not {posts[i] for i in train} & {posts[i] for i in val}
    assert 5 <= len({posts[i] for i in val}) <= 40
    assert split_by_post(posts, 0.1, seed=0) == (train, val)
    assert split_by_post(posts, 0.1, seed=1) != (train, val)
    tiny_train, tiny_val = split_by_post([7, 7, 9], 0.01)
    assert tiny_val and tiny_train  # at least one post on each side


def test_metrics() -> None:
    import torch

    from train.validation import hint_error_sum, psnr, ssim

    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(2))
    assert (ssim(x, torch.rand(2, 3, 32, 32)) < 0.2).all()
    # an error of 0.1 everywhere is 20 dB, of 0.01 is 40 dB, image by image (10 log10(1 / MSE))
    base = torch.rand(2, 3, 32, 32) * 0.8
    off = torch.tensor([0.1, 0.01])[:, None, None, None]
    assert torch.allclose(psnr(base, base + off), torch.tensor([20.0, 40.0]), atol=1e-3)
    assert abs(float(psnr(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1))) - 20) < 1e-4
    mask = torch.zeros(1, 1, 8, 8)
    mask[0, 0, 0, 0] = 1
    total, n = hint_error_sum(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 2 / 255), mask)
    assert n == 1 and abs(total - 3**0.5) < 1e-4


# -- training --------------------------------------------------------------------------------------


def test_training_lowers_validation_l1_and_writes_a_run(trained_run: Path) -> None:
    from train.engine.rundir import read_stats

    stats = read_stats(trained_run / "stats.jsonl")
    vals = [r["val_l1"] for r in stats if "val_l1" in r]
    assert len(vals) >= 3
    assert vals[-1] < 0.75 * vals[0], vals
    assert all(k in stats[-1] for k in ("val_psnr", "val_ssim", "val_hint_error", "img_per_s", "data_wait"))
    opts = json.loads((trained_run / "options.json").read_text())
    assert opts["tags_mode"] == "embed" and opts["resolved"]["d_receptive_field"] == 34
    assert json.loads((trained_run / "vocab.json").read_text())["tags"] == list(VOCAB_TAGS)
    assert (trained_run / "network-best.pt").exists() and (trained_run / "best.json").exists()
    grids = sorted(trained_run.glob("val_*.png"))
    img = cv2.imread(str(grids[-1]))
    assert img.shape[1] == 4 * 32 + 5 * 2 and img.shape[0] == 8 * 32 + 9 * 2  # line | hints | output | target
    summary = json.loads((trained_run / "_stats.json").read_text())
    assert summary["steps"] == 150 and summary["val_samples"] > 0


def test_tags_steer_the_hair_colour(trained_run: Path) -> None:
    """The same line art with red_hair and with blue_hair: the hair comes out red, then blue."""
    from train.colorize import colorize_array
    from train.pix2pix import load_colorizer

    model = load_colorizer(trained_run)
    for pid in (1001, 1017):
        _, line = face_pair(pid, "red_hair", 32)
        hair = hair_region(pid, 32)
        red = colorize_array(model, line, model.vocab.vector(["1girl", "smile", "solo", "red_hair"]))[
            hair
        ].mean(0)
        blue = colorize_array(model, line, model.vocab.vector(["1girl", "smile", "solo", "blue_hair"]))[
            hair
        ].mean(0)
        assert red[0] - blue[0] > 40, (red, blue)  # more red
        assert blue[2] - red[2] > 40, (red, blue)  # more blue


def _params(path: Path) -> dict:
    import torch

    from train.engine.rundir import find_snapshot

    return torch.load(find_snapshot(path), weights_only=True)["G"]


def test_resume_matches_an_uninterrupted_run(lineart_dir: Path, tmp_path: Path) -> None:
    import torch

    from train.pix2pix import train

    # The learning-rate decay depends on the run's length, so the interrupted run is simulated with a
    # constant rate (--decay-kimg 0); a real interruption keeps the length and needs no such care.
    kw = {"tags_mode": "plane", "decay_kimg": 0.0}
    train(tiny_options(lineart_dir, tmp_path / "straight", steps=6, **kw))
    train(tiny_options(lineart_dir, tmp_path / "resumed", steps=3, **kw))
    train(tiny_options(lineart_dir, tmp_path / "resumed", steps=6, resume="auto", **kw))
    a, b = _params(tmp_path / "straight"), _params(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    from train.engine.rundir import read_stats

    assert [r["step"] for r in read_stats(tmp_path / "resumed" / "stats.jsonl")] == [2, 3, 4, 6]


def test_gan_weight_0_is_the_plain_unet_with_l1_only(lineart_dir: Path, tmp_path: Path) -> None:
    """--gan-weight 0: no discriminator built, stepped or saved; the run resumes exactly and its
    generator is not the one the adversarial loss gives."""
    import torch

    from core.errors import UserError
    from train.engine.rundir import find_snapshot, read_stats
    from train.pix2pix import load_colorizer, train

    kw = {"tags_mode": "none", "decay_kimg": 0.0, "gan_weight": 0.0}
    train(tiny_options(lineart_dir, tmp_path / "straight", steps=4, **kw))
    train(tiny_options(lineart_dir, tmp_path / "resumed", steps=2, **kw))
    summary = train(tiny_options(lineart_dir, tmp_path / "resumed", steps=4, resume="auto", **kw))
    assert summary["steps"] == 4 and summary["val_l1"] is not None
    state = torch.load(find_snapshot(tmp_path / "resumed"), weights_only=True)
    assert {"G", "opt_g"} <= set(state) and not {"D", "opt_d"} & set(state)
    assert state["options"]["gan_weight"] == 0.0
    a, b = _params(tmp_path / "straight"), _params(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    records = read_stats(tmp_path / "resumed" / "stats.jsonl")
    assert all("loss_l1" in r and "loss_d" not in r and "d_real" not in r for r in records)
    resolved = json.loads((tmp_path / "resumed" / "options.json").read_text())["resolved"]
    assert resolved["d_layers"] is None
    assert load_colorizer(tmp_path / "resumed").options["gan_weight"] == 0.0
    # the same run with the adversarial loss trains another generator
    train(tiny_options(lineart_dir, tmp_path / "gan", steps=4, **{**kw, "gan_weight": 1.0}))
    c = _params(tmp_path / "gan")
    assert not all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(UserError, match="--gan-weight must be 0"):
        train(tiny_options(lineart_dir, tmp_path / "bad", **{**kw, "gan_weight": -1.0}))


@pytest.mark.parametrize(
    "kw",
    [
        {"tags_mode": "none", "hints": False, "data": "stream"},
        {"tags_mode": "plane", "data": "stream", "best_metric": "hint_error"},
        {"tags_mode": "embed", "size": 16, "jitter": False},
    ],
)
def test_every_mode_trains(lineart_dir: Path, tmp_path: Path, kw: dict) -> None:
    from train.pix2pix import load_colorizer, train

    summary = train(tiny_options(lineart_dir, tmp_path / "run", steps=2, **kw))
    assert summary["steps"] == 2 and summary["val_l1"] is not None
    assert summary["data"] == kw.get("data", "memory")
    model = load_colorizer(tmp_path / "run")
    assert model.options["tags_mode"] == kw["tags_mode"]
    assert (model.vocab is None) == (kw["tags_mode"] == "none")


def test_nan_stops_the_run_and_keeps_the_last_good_snapshot(lineart_dir: Path, tmp_path: Path) -> None:
    from core.errors import UserError
    from train.pix2pix import train

    out = tmp_path / "run"
    train(tiny_options(lineart_dir, out, steps=2))
    good = sorted(out.glob("network-snapshot-*.pt"))
    with pytest.raises(UserError, match="non-finite loss at step 3"):
        train(tiny_options(lineart_dir, out, steps=6, resume="auto", debug_nan_step=3))
    assert sorted(out.glob("network-snapshot-*.pt")) == good


# -- bad input ---------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path):
    from tests.conftest import run_cli

    return run_cli("train", "pix2pix", "--size", "32", "--ngf", "8", "--ndf", "8", "--steps", "1",
                   "--workers", "0", "--no-progress", *args, cwd=cwd, env={"OMP_NUM_THREADS": "1"})  # fmt: skip


def test_bad_shards_give_clear_errors(tmp_path: Path) -> None:
    faces = tmp_path / "faces"
    faces.mkdir()
    info = write_shard(
        faces / "faces-000000.tar", [("a", {"png": _png(np.zeros((32, 32, 3), np.uint8)), "json": b"{}"})]
    )
    write_index(faces, [info], "faces")
    r = _cli("--shards", str(faces), "--out", str(tmp_path / "o1"), cwd=tmp_path)
    assert r.returncode == 2 and "no line.png" in r.stderr and "prep canny" in r.stderr
    assert "Traceback" not in r.stderr

    notags = tmp_path / "notags"
    make_lineart_shards(notags, n_posts=3, with_tags=False)
    r = _cli("--shards", str(notags), "--out", str(tmp_path / "o2"), "--tags-mode", "plane", cwd=tmp_path)
    assert r.returncode == 2 and "--tags-mode plane needs tag vectors" in r.stderr

    novocab = tmp_path / "novocab"
    make_lineart_shards(novocab, n_posts=3, vocab_file=False)
    r = _cli("--shards", str(novocab), "--out", str(tmp_path / "o3"), cwd=tmp_path)
    assert r.returncode == 2 and "--vocab" in r.stderr

    other = tmp_path / "other.json"
    v = Vocab(tags=("a", "b", "c", "d", "e"), counts=(5, 4, 3, 2, 1),
              meta={"top": 5, "min_count": 1, "exclude_meta": True, "source_posts": 5})  # fmt: skip
    other.write_text(json.dumps(v.to_json()))
    r = _cli("--shards", str(novocab), "--out", str(tmp_path / "o4"), "--vocab", str(other), cwd=tmp_path)
    assert r.returncode == 2 and "is not the vocabulary the shards" in r.stderr

    r = _cli("--shards", str(tmp_path / "missing"), "--out", str(tmp_path / "o5"), cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = _cli(
        "--shards",
        str(notags),
        "--out",
        str(tmp_path / "o6"),
        "--tags-mode",
        "none",
        "--size",
        "64",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "--size 64 is larger" in r.stderr


def test_resume_with_another_vocabulary_is_refused(lineart_dir: Path, tmp_path: Path) -> None:
    from core.errors import UserError
    from train.pix2pix import train

    out = tmp_path / "run"
    train(tiny_options(lineart_dir, out, steps=1, val_fraction=0.0))
    other = tmp_path / "other"
    make_lineart_shards(other, n_posts=3)
    v = Vocab(tags=("x", "y", "z", "w", "q"), counts=(5, 4, 3, 2, 1),
              meta={"top": 5, "min_count": 1, "exclude_meta": True, "source_posts": 5})  # fmt: skip
    meta_fixed = json.loads((other / "vocab.json").read_text())
    assert meta_fixed["hash"] != v.hash
    # shards built with vocabulary v: rewrite their json's hash and vocab.json accordingly
    import shutil

    shutil.rmtree(other)
    make_lineart_shards(other, n_posts=3, vocab_file=False)
    (other / "vocab.json").write_text(json.dumps(v.to_json()))
    for tar in other.glob("*.tar"):
        from core.shards import iter_samples

        samples = []
        for key, files in iter_samples(tar):
            meta = json.loads(files["json"])
            meta["vocab_hash"] = v.hash
            samples.append((key, {**files, "json": json.dumps(meta).encode()}))
        write_shard(tar, samples)
    with pytest.raises(UserError, match="does not match the checkpoint"):
        train(tiny_options(other, out, steps=2, resume="auto"))


# -- multi-process ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ddp_two_processes_uneven_shards(lineart_dir: Path, tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo), shards of 30, 30 and 20 samples streamed by 1 worker each,
    validation rows dropped from the stream; rank 0 alone validates, snapshots and writes."""
    import os
    import subprocess
    import sys

    import torch

    from tests.conftest import ROOT
    from train.engine.rundir import read_stats
    from train.pix2pix import load_colorizer

    out = tmp_path / "ddp"
    cmd = [
        str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "train",
        "pix2pix", "--shards", str(lineart_dir), "--out", str(out), "--size", "32", "--ngf", "8", "--ndf", "8",
        "--tags-mode", "embed", "--batch", "8", "--steps", "6", "--tick-kimg", "0.016", "--val-kimg", "0.024",
        "--snap-kimg", "0.032", "--val-fraction", "0.15", "--grid", "4", "--data", "stream", "--workers", "1",
        "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("train pix2pix: kimg=0.048 steps=6") == 1  # rank 0 alone reports
    records = read_stats(out / "stats.jsonl")
    # one line per tick (16, 32, 48 images), validation (24, 48) or snapshot (32, 48): rank 0 alone writes
    assert [r["nimg"] for r in records] == [16, 24, 32, 48]
    assert [r["nimg"] for r in records if "val_l1" in r] == [24, 48]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_l1"]) for r in records)
    assert json.loads((out / "options.json").read_text())["resolved"]["world_size"] == 2
    summary = json.loads((out / "_stats.json").read_text())
    assert summary["world_size"] == 2 and summary["data"] == "stream" and summary["val_samples"] > 0
    assert sorted(p.name for p in out.glob("val_*.png")) == ["val_000000.024.png", "val_000000.048.png"]
    assert sorted(p.name for p in out.glob("network-snapshot-*.pt")) == [
        "network-snapshot-000000.032.pt",
        "network-snapshot-000000.048.pt",
    ]
    state = torch.load(out / "network-snapshot-000000.048.pt", weights_only=True)
    assert state["counters"]["nimg"] == 48 and state["counters"]["step"] == 6
    assert not any(k.startswith("module.") for k in state["G"])  # the plain model, not the DDP wrapper
    assert load_colorizer(out).options["tags_mode"] == "embed"
    assert not list(out.glob(".*.tmp"))
