"""`train style` and its VGG-19 loader: a randomly initialised VGG-19 saved in the real formats, tiny images."""

from __future__ import annotations

from pathlib import Path

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
