"""VGG-19 `features` (torchvision's layout, defined here: no torchvision), its weights and its input.

The loss network of `train style` and `train fast-style`. The API, all of it:

    from train.models.vgg import load_vgg19, layer_index, LAYERS

    vgg, prep = load_vgg19("vgg19-dcbb9e9d.pth", preprocess="auto", device="cpu")
    print(prep.how)                          # which preprocessing `auto` chose, and why
    feats = vgg(prep(rgb), ["relu4_2", "relu1_1"])   # rgb: N x 3 x H x W, RGB in [0, 1]
    feats["relu4_2"]                         # N x 512 x H/8 x W/8

- `VGG19` is an `nn.Module` with `.features`, an `nn.Sequential` of 37 modules whose parameters
  are named exactly as torchvision's (`features.0.weight`, ..., `features.34.bias`). Calling it
  with layer names returns {name: activation} and stops after the deepest layer asked for.
- `LAYERS` maps names (conv1_1, relu1_1, conv1_2, ..., pool1, ..., relu5_4, pool5) to indices in
  `features`; `layer_index(name, option)` raises a UserError naming `option` for an unknown name.
- `load_vgg19(path, preprocess, device, option="--vgg-weights", pooling="max")` reads a state
  dict from `.pth`/`.pt` (`torch.load(weights_only=True)`) or `.safetensors` (read here: a JSON
  header and raw little-endian tensors, no extra package). `classifier.*` keys (new or old
  `classifier.1/4` numbering) are ignored, a `module.` prefix is stripped. A missing or unreadable
  file, or a state dict of another network, is a one-line UserError naming `option`. The network
  comes back frozen (requires_grad False) in eval mode.
- `Preprocess` (returned with the network, or `Preprocess(mode)`) turns RGB in [0, 1] into the
  network's input: mode "torchvision" is ImageNet mean/std normalisation (`vgg19-dcbb9e9d.pth`),
  mode "caffe" is BGR 0-255 minus the Caffe mean (`vgg19-d01eb7cb.pth`, jcjohnson's conversion).
  `detect_preprocess(path, choice)` is the `--vgg-preprocess auto|torchvision|caffe` rule: a
  known SHA-256 prefix in the file name (torch.hub's `name-<sha256 prefix>.ext` rule), else the
  file's own sha256, else torchvision (and it says so).
- `random_vgg19(seed)`, `save_safetensors(state, path)`: for tests and benchmarks (torchvision's
  initialisation; nothing is downloaded).
"""

from __future__ import annotations

import functools
import hashlib
import json
import mmap
import re
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import UserError

# torchvision's "E" configuration: conv widths, "M" a 2x2 max pool.
CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    names: dict[str, int] = {}
    i, block, conv = 0, 1, 1
    for v in CFG:
        if v == "M":
            names[f"pool{block}"] = i
            i, block, conv = i + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = i
            names[f"relu{block}_{conv}"] = i + 1
            i, conv = i + 2, conv + 1
    return names


LAYERS: dict[str, int] = _layer_names()
CONV_INDICES: tuple[int, ...] = tuple(i for n, i in LAYERS.items() if n.startswith("conv"))

# Known files (torch.hub names carry the first 8 hex digits of the file's sha256).
KNOWN_FILES = {
    "dcbb9e9d": ("torchvision", "torchvision's vgg19-dcbb9e9d.pth"),
    "d01eb7cb": ("caffe", "the Caffe conversion vgg19-d01eb7cb.pth"),
}
PREPROCESS_CHOICES = ("auto", "torchvision", "caffe")
_HUB_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's HASH_REGEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def layer_index(name: str, option: str = "--layers") -> int:
    """Index in `features` of a layer name; UserError naming `option` for an unknown one."""
    try:
        return LAYERS[name]
    except KeyError:
        raise UserError(
            f"{option}: unknown VGG-19 layer {name!r}; use names like conv4_2, relu1_1, pool3 "
            f"(conv/relu 1_1-1_2, 2_1-2_2, 3_1-3_4, 4_1-4_4, 5_1-5_4; pool1-pool5)"
        ) from None


class VGG19(nn.Module):
    """VGG-19 convolutional part; `forward(x, layers)` returns {layer name: activation}."""

    def __init__(self, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be max or avg, not {pooling!r}")
        mods: list[nn.Module] = []
        c = 3
        for v in CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
            else:
                mods += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c = int(v)
        self.features = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        wanted = {LAYERS[n]: n for n in layers}
        out: dict[str, torch.Tensor] = {}
        last = max(wanted)
        for i, m in enumerate(self.features):
            x = m(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out


class Preprocess:
    """RGB in [0, 1] (N x 3 x H x W) to the network's input; `mode` torchvision or caffe."""

    def __init__(self, mode: str, how: str = "") -> None:
        if mode not in ("torchvision", "caffe"):
            raise ValueError(f"preprocess mode must be torchvision or caffe, not {mode!r}")
        self.mode = mode
        self.how = how or f"{mode} preprocessing"

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        if self.mode == "torchvision":
            mean = rgb.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = rgb.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
            return (rgb - mean) / std
        bgr = rgb.flip(1) * 255.0
        return bgr - bgr.new_tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"Preprocess({self.mode!r})"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def detect_preprocess(path: str | Path, choice: str = "auto", option: str = "--vgg-preprocess") -> Preprocess:
    """The preprocessing for a weights file: `choice`, or for auto the known sha256 prefix of its name
    or of its content (torchvision when neither is known). `.how` says which and why."""
    if choice not in PREPROCESS_CHOICES:
        raise UserError(f"{option} must be one of {', '.join(PREPROCESS_CHOICES)}, not {choice!r}")
    path = Path(path)
    if choice != "auto":
        return Preprocess(choice, f"{choice} preprocessing ({option} {choice})")
    for prefix in _HUB_HASH.findall(path.name):
        for known, (mode, what) in KNOWN_FILES.items():
            if len(prefix) >= 8 and (known.startswith(prefix) or prefix.startswith(known)):
                return Preprocess(mode, f"{mode} preprocessing: the file name says {what} (sha256 {known})")
    digest = sha256_file(path)
    for known, (mode, what) in KNOWN_FILES.items():
        if digest.startswith(known):
            return Preprocess(mode, f"{mode} preprocessing: the file's sha256 {digest[:8]} is {what}")
    return Preprocess(
        "torchvision",
        f"torchvision preprocessing: unknown weights (sha256 {digest[:8]}), assumed torchvision-trained; "
        f"pass {option} caffe for a Caffe conversion",
    )


# --- safetensors: 8-byte little-endian header length, a JSON header, then the raw tensor bytes ---

_ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_ST_NAMES = {v: k for k, v in _ST_DTYPES.items()}


def read_safetensors(path: str | Path, keep: Any = None) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file (those whose name passes `keep`, all when None); ValueError
    when the file is not in the format."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if len(mm) < 8:
            raise ValueError("shorter than a safetensors header")
        (n,) = struct.unpack("<Q", mm[:8])
        if n > len(mm) - 8 or n > 100_000_000:
            raise ValueError("header length beyond the end of the file: not a safetensors file")
        try:
            header = json.loads(bytes(mm[8 : 8 + n]))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        base = 8 + n
        out: dict[str, torch.Tensor] = {}
        for name, info in header.items():
            if name == "__metadata__" or (keep is not None and not keep(name)):
                continue
            try:
                dtype = _ST_DTYPES[info["dtype"]]
                shape = [int(s) for s in info["shape"]]
                begin, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"tensor {name!r}: unsupported or malformed header entry") from None
            count = 1
            for s in shape:
                count *= s
            itemsize = torch.empty((), dtype=dtype).element_size()
            if end - begin != count * itemsize or base + end > len(mm) or begin < 0:
                raise ValueError(f"tensor {name!r}: data offsets do not match its shape or the file")
            buf = bytearray(mm[base + begin : base + end])
            t = torch.frombuffer(buf, dtype=dtype) if count else torch.empty(0, dtype=dtype)
            out[name] = t.reshape(shape)
        return out


def save_safetensors(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Write tensors as a .safetensors file (what the `safetensors` package reads)."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": _ST_NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the format pads the header to 8 bytes
    from core.atomic import atomic_open

    with atomic_open(path, "wb", fsync=False) as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


# --- loading ---


def read_state_dict(path: str | Path, option: str = "--vgg-weights") -> dict[str, torch.Tensor]:
    """The VGG-19 `features.*` tensors of a weights file; UserError naming `option` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{option} {path}: no such file (torchvision's is vgg19-dcbb9e9d.pth; see the README)"
        )

    def keep(k: str) -> bool:
        return not k.removeprefix("module.").startswith("classifier.")

    try:
        if path.suffix == ".safetensors":
            raw: Any = read_safetensors(path, keep)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many kinds (UnpicklingError, RuntimeError, EOFError...)
        kind = "safetensors" if path.suffix == ".safetensors" else "torch state-dict"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{option} {path}: not a readable {kind} file ({msg[:200]})") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise UserError(f"{option} {path}: not a state dict (a dict of tensors); save model.state_dict()")
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    check_vgg19_state(state, path, option)
    return state


@functools.cache
def _reference_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in VGG19().state_dict().items()}


def check_vgg19_state(state: dict[str, torch.Tensor], path: str | Path, option: str) -> None:
    """UserError unless `state` holds exactly VGG-19's 16 convolutions as `features.N.weight/bias`."""
    ref = _reference_shapes()
    missing = [k for k in ref if k not in state]
    extra = [k for k in state if k not in ref]
    bad = [k for k in ref if k in state and tuple(state[k].shape) != ref[k]]
    if not (missing or extra or bad):
        return
    if missing and len(missing) == len(ref):
        sample = ", ".join(sorted(state)[:3]) or "no tensors"
        what = f"no features.N.weight keys (it has {sample}, ...)"
    elif bad:
        k = bad[0]
        what = f"{k} is {tuple(state[k].shape)}, VGG-19 has {ref[k]}"
    elif missing:
        what = f"{len(missing)} VGG-19 tensors missing (first {missing[0]})"
    else:
        what = f"unexpected tensors such as {extra[0]} (VGG-19 with batch norm, or another network?)"
    raise UserError(
        f"{option} {path}: not a VGG-19 state dict in torchvision's layout: {what}; "
        "use vgg19-dcbb9e9d.pth or vgg19-d01eb7cb.pth"
    )


def load_vgg19(
    path: str | Path,
    preprocess: str = "auto",
    device: str | torch.device = "cpu",
    option: str = "--vgg-weights",
    pooling: str = "max",
    preprocess_option: str = "--vgg-preprocess",
) -> tuple[VGG19, Preprocess]:
    """A frozen VGG-19 (eval mode) on `device` with the weights of `path`, and its input preprocessing."""
    state = read_state_dict(path, option)
    prep = detect_preprocess(path, preprocess, preprocess_option)
    with torch.device("meta"):  # no time spent initialising weights that are replaced at once
        model = VGG19(pooling)
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()}, assign=True)
    model.requires_grad_(False).eval()
    return model.to(device), prep


def random_vgg19(seed: int = 0) -> VGG19:
    """A randomly initialised VGG-19 as torchvision initialises it (Kaiming fan-out, zero bias)."""
    g = torch.Generator().manual_seed(seed)
    model = VGG19()
    with torch.no_grad():
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=g)
                m.bias.zero_()
    return model
