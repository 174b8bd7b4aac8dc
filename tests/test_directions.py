"""Tag directions: the shared latent maths, `train directions` (mean and linear), `train sample --tags`.

The generator: training a DCGAN until hair colour follows z takes minutes on a CPU, so the session
fixture fits the project's own DCGAN `Generator` (32 px, nz 8, ngf 8) to the tagged sample-site faces
by generative latent optimisation (each face gets a fixed random z; the generator learns to draw
it, about 80 Adam steps) and saves it as a `train dcgan` snapshot. Everything after that is the real
thing: `train tagger` on the same faces, `train directions`, `train sample`, `train demo`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import UserError
from tests.test_tagger import HAIR, ONE_THREAD, tagged_faces, tagger_run  # noqa: F401  (fixtures)
from train.directions import latent, store
from train.glo import fit_glo


def blueness(img: np.ndarray) -> float:
    """Mean of B - (R + G) / 2 over an HxWx3 (or Nx3xHxW float) image."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 4:
        return float((a[:, 2] - (a[:, 0] + a[:, 1]) / 2).mean())
    return float((a[..., 2] - (a[..., 0] + a[..., 1]) / 2).mean())


def fit_generator(shards: Path, out: Path) -> Path:
    """A DCGAN generator fitted to the faces (GLO), saved as a `train dcgan` snapshot in `out`."""
    return fit_glo(shards, out, nz=8, ngf=8, steps=80, snapshot="network-snapshot-000001.000.pt")


@pytest.fixture(scope="session")
def steered(
    tagged_faces: Path,  # noqa: F811
    tagger_run: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """{"dcgan": run dir with directions.json, "tagger": tagger run, "faces": shards}."""
    from train.directions.run import run_directions

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dcgan = fit_generator(tagged_faces, tmp_path_factory.mktemp("steer") / "dcgan")
        run_directions(dcgan, tagger_run, n=1000, effect_n=50, progress=False)
    finally:
        torch.set_num_threads(n)
    return {"dcgan": dcgan, "tagger": tagger_run, "faces": tagged_faces}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (tests/conftest.py)."""


# -- the shared maths ------------------------------------------------------------------------------


def test_latent_maths() -> None:
    a, b = latent.normal(7, 101), latent.normal(7, 101)
    assert a.dtype == np.float32 and a.shape == (101,) and np.array_equal(a, b)
    many = np.concatenate([latent.normal(s, 100) for s in range(200)])
    assert abs(many.mean()) < 0.03 and abs(many.std() - 1) < 0.03
    assert np.allclose(latent.z0(7, 101, 0.5), 0.5 * a) and not latent.z0(7, 101, 0.0).any()
    d = np.eye(4, dtype=np.float32)[:2] * 2  # two directions of length 2
    z = latent.compose(np.zeros(4, np.float32), d, np.array([1.0, -0.5], np.float32))
    assert np.allclose(z, [2, -1, 0, 0])
    # far outside the prior: scaled back onto its radius, direction kept
    far = latent.compose(np.zeros(4, np.float32), d, np.array([100.0, 0.0], np.float32))
    assert np.isclose(np.linalg.norm(far), latent.prior_radius(4)) and far[0] > 0 and not far[1:].any()
    assert np.allclose(latent.mix(z, far, 0.0), z, atol=1e-6) and np.allclose(
        latent.mix(z, far, 1.0), far, atol=1e-5
    )
    assert np.linalg.norm(latent.mix(z, -z, 0.3)) <= latent.prior_radius(4) + 1e-5
    assert latent.face(3, 1.0, 4, np.zeros((0, 4), np.float32), np.zeros(0, np.float32)).shape == (4,)


def test_tag_specs_and_directions_files(tmp_path: Path) -> None:
    assert store.parse_spec("long_hair=+1.5,smile=-0.5") == {"long_hair": 1.5, "smile": -0.5}
    for bad in ("long_hair", "long_hair=x", "=1", "a=nan"):
        with pytest.raises(UserError, match="TAG=NUMBER"):
            store.parse_spec(bad)
    d = store.Directions(["a", "b"], np.ones((2, 3), np.float32), {"method": "mean"})
    path = store.save(d, tmp_path / "directions.json")
    back = store.load(path, nz=3)
    assert (
        back.tags == ["a", "b"] and np.array_equal(back.vectors, d.vectors) and back.meta["method"] == "mean"
    )
    with pytest.raises(UserError, match="no direction for c"):
        back.strengths({"c": 1.0})
    with pytest.raises(UserError, match="3-dimensional latent"):
        store.load(path, nz=8)
    with pytest.raises(UserError, match="no such file"):
        store.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="not a directions file"):
        store.load(tmp_path / "bad.json")


# -- train directions -------------------------------------------------------------------------------


def test_directions_file_page_and_strips(steered: dict[str, Path]) -> None:
    run = steered["dcgan"]
    doc = json.loads((run / "directions.json").read_text())
    tags = doc["tags"]
    assert set(HAIR) <= set(tags) and doc["method"] == "mean" and doc["n"] == 1000
    t = len(tags)
    assert np.array(doc["effect"]).shape == (t, t) and np.allclose(np.diag(doc["cosine"]), 1, atol=1e-3)
    assert all(len(doc["directions"][k]) == 8 for k in tags)
    assert 0 <= doc["selective_share"] <= 1 and doc["selective_count"] == sum(doc["selective"].values())
    # the hair directions do what they say: each raises its own tag's score on fresh samples
    assert all(doc["own_gain"][h] > 0 for h in HAIR), doc["own_gain"]
    page = (run / "directions.html").read_text()
    assert page.count("<img") == t and "Effect matrix" in page and "blue_hair" in page
    strips = sorted((run / "directions").glob("*.png"))
    assert len(strips) == t
    w, h = Image.open(strips[0]).size
    assert (w, h) == (2 + 9 * 34, 2 + 3 * 34)  # 9 values from -2 to +2, 3 faces, 32 px + 2 px padding


def test_sample_with_tags_is_bluer_along_blue_hair(steered: dict[str, Path], tmp_path: Path) -> None:
    from train.sample import sample

    up = sample(steered["dcgan"], n=16, out=tmp_path / "up.png", tags="blue_hair=+2", device="cpu")
    down = sample(steered["dcgan"], n=16, out=tmp_path / "down.png", tags="blue_hair=-2", device="cpu")
    assert blueness(np.array(Image.open(up))) > blueness(np.array(Image.open(down))) + 10
    strips = sample(steered["dcgan"], n=8, out=tmp_path / "walk.png", interpolate=True, frames=4,
                    tags="blue_hair=1,red_hair=-1", device="cpu")  # fmt: skip
    assert Image.open(strips).size == (2 + 4 * 34, 2 + 2 * 34)
    with pytest.raises(UserError, match="no direction for wavy_hair"):
        sample(steered["dcgan"], n=4, out=tmp_path / "x.png", tags="wavy_hair=1", device="cpu")
    with pytest.raises(UserError, match="TAG=NUMBER"):
        sample(steered["dcgan"], n=4, out=tmp_path / "y.png", tags="blue_hair", device="cpu")


def test_linear_method(steered: dict[str, Path], tmp_path: Path) -> None:
    from train.directions.run import run_directions

    out = tmp_path / "linear.json"
    s = run_directions(
        steered["dcgan"], steered["tagger"], n=400, method="linear", out=out, effect_n=20, progress=False
    )
    doc = json.loads(out.read_text())
    assert s["method"] == doc["method"] == "linear" and doc["own_gain"]["blue_hair"] > 0
    mean = store.load(steered["dcgan"] / "directions.json")
    lin = store.load(out)
    i = mean.tags.index("blue_hair")
    cos = float(
        mean.vectors[i] @ lin.vectors[i] / np.linalg.norm(mean.vectors[i]) / np.linalg.norm(lin.vectors[i])
    )
    assert cos > 0.5  # both methods find about the same blue-hair direction
    with pytest.raises(UserError, match="--method"):
        run_directions(steered["dcgan"], steered["tagger"], method="median", out=out, progress=False)
    with pytest.raises(UserError, match="tagger"):  # a DCGAN snapshot is not a tagger
        run_directions(steered["dcgan"], steered["dcgan"], n=100, out=out, progress=False)
