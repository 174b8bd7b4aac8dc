"""The shard loader (train/loader.py) on tiny real shards written with core.shards."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.errors import UserError
from core.shards import write_index, write_shard
from tests.conftest import ROOT
from train.loader import MemoryBatches, decode_image, load_into_memory, make_loader, open_shards

SIZE = 16
VOCAB = 5


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def face_image(i: int) -> np.ndarray:
    """RGB image whose pixels encode the sample number (so decoded batches can be checked)."""
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    img[..., 0] = i % 256
    img[..., 1] = 7
    img[..., 2] = 200
    return img


def make_faces(folder: Path, shard_sizes: list[int], start: int = 0) -> list[str]:
    """Face shards (`png` stored BGR as cv2 writes it, + `json`); returns all keys."""
    folder.mkdir(parents=True, exist_ok=True)
    infos, keys, i = [], [], start
    for s, n in enumerate(shard_sizes):
        samples = []
        for _ in range(n):
            key = f"f{i:06d}"
            rgb = face_image(i)
            meta = {"post_id": i, "face_index": 0, "tags": ["a"]}
            samples.append((key, {"png": png(rgb[..., ::-1]), "json": json.dumps(meta).encode()}))
            keys.append(key)
            i += 1
        infos.append(write_shard(folder / f"faces-{s:06d}.tar", samples))
    write_index(folder, infos, "faces")
    return keys


def make_lineart(folder: Path, n: int, per_shard: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    infos = []
    for s in range(0, n, per_shard):
        samples = []
        for i in range(s, min(n, s + per_shard)):
            colour = face_image(i)
            line = np.full((SIZE, SIZE), i % 256, np.uint8)
            tags = np.zeros(VOCAB, np.uint8)
            tags[i % VOCAB] = 1
            files = {"color.png": png(colour[..., ::-1]), "line.png": png(line), "tags.npy": npy(tags)}
            samples.append((f"l{i:06d}", {**files, "json": b"{}"}))
        infos.append(write_shard(folder / f"lineart-{s // per_shard:06d}.tar", samples))
    write_index(folder, infos, "lineart")


def sample_number(key: str) -> int:
    return int(key[1:])


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("faces")
    return folder, make_faces(folder, [6, 6, 6, 6, 5])


def all_keys(loader) -> list[str]:
    return [k for batch in loader for k in batch["__key__"]]


# decoding ------------------------------------------------------------------------------------


def test_decode_channels_alpha_and_16bit() -> None:
    rgb = face_image(3)
    assert np.array_equal(decode_image(png(rgb[..., ::-1])), rgb)
    gray = np.arange(SIZE * SIZE, dtype=np.uint8).reshape(SIZE, SIZE)
    assert decode_image(png(gray)).shape == (SIZE, SIZE, 1)
    assert decode_image(png(gray), channels=3).shape == (SIZE, SIZE, 3)
    # alpha 0 -> white, alpha 255 -> the colour, never 4 channels
    bgra = np.zeros((SIZE, SIZE, 4), np.uint8)
    bgra[..., 2] = 255
    bgra[: SIZE // 2, :, 3] = 255
    out = decode_image(png(bgra))
    assert out.shape == (SIZE, SIZE, 3)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[-1, -1].tolist() == [255, 255, 255]
    deep = np.full((SIZE, SIZE), 65535, np.uint16)
    deep[0, 0] = 0
    out16 = decode_image(png(deep))
    assert out16.dtype == np.uint8 and out16[1, 1, 0] == 255 and out16[0, 0, 0] == 0


# open_shards ----------------------------------------------------------------------------------


def test_open_shards_describes_the_data(faces: tuple[Path, list[str]]) -> None:
    folder, keys = faces
    src = open_shards(folder, fields=("png", "json"))
    assert src.num_samples == len(keys) == 29
    assert len(src.shards) == 5 and all(Path(s).is_file() for s in src.shards)
    assert src.image_size == (SIZE, SIZE)
    assert src.channels == {"png": 3}


def test_open_shards_errors(tmp_path: Path, faces: tuple[Path, list[str]]) -> None:
    with pytest.raises(UserError, match="does not exist"):
        open_shards(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no shards"):
        open_shards(tmp_path / "empty")
    with pytest.raises(UserError, match=r"lack field\(s\) line\.png.*has: json, png"):
        open_shards(faces[0], fields=("png", "line.png"))
    hollow = tmp_path / "hollow"
    make_faces(hollow, [0])
    with pytest.raises(UserError, match="hold no samples"):
        open_shards(hollow)
    broken = tmp_path / "broken"
    make_faces(broken, [2, 2])
    (broken / "faces-000001.tar").unlink()
    with pytest.raises(UserError, match=r"do not exist.*faces-000001\.tar"):
        open_shards(broken)


def test_cli_style_error_is_one_line(tmp_path: Path) -> None:
    """A UserError from open_shards carries a single line naming the path."""
    with pytest.raises(UserError) as err:
        open_shards(tmp_path / "missing-faces")
    assert "\n" not in str(err.value) and "missing-faces" in str(err.value)


# batches --------------------------------------------------------------------------------------


def test_batches_rgb_gray_and_tags(tmp_path: Path) -> None:
    make_lineart(tmp_path, 10)
    src = open_shards(tmp_path, fields=("color.png", "line.png", "tags.npy", "json"))
    assert src.channels == {"color.png": 3, "line.png": 1}
    loader = make_loader(src, batch_size=4, workers=0, resampled=False, drop_last=False, seed=1)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    b = batches[0]
    assert b["color.png"].dtype == torch.uint8 and b["color.png"].shape == (4, 3, SIZE, SIZE)
    assert b["line.png"].dtype == torch.uint8 and b["line.png"].shape == (4, 1, SIZE, SIZE)
    assert b["tags.npy"].dtype == torch.float32 and b["tags.npy"].shape == (4, VOCAB)
    assert b["json"] == [{}] * 4
    for batch in batches:
        for j, key in enumerate(batch["__key__"]):
            i = sample_number(key)
            # RGB order is right: red channel holds the sample number, blue is 200
            assert batch["color.png"][j, :, 0, 0].tolist() == [i, 7, 200]
            assert int(batch["line.png"][j, 0, 3, 3]) == i
            assert int(batch["tags.npy"][j].argmax()) == i % VOCAB
    assert sorted(k for b in batches for k in b["__key__"]) == [f"l{i:06d}" for i in range(10)]


def test_mixed_images_follow_the_first_sample(tmp_path: Path) -> None:
    """Within one field, later images are converted to the first one's channel count."""
    rgb = face_image(9)
    bgra = np.zeros((SIZE, SIZE, 4), np.uint8)  # fully transparent: white
    gray = np.full((SIZE, SIZE), 77, np.uint8)
    files = [png(rgb[..., ::-1]), png(gray), png(bgra)]
    infos = [write_shard(tmp_path / "m-000000.tar", [(f"m{i}", {"png": b}) for i, b in enumerate(files)])]
    write_index(tmp_path, infos, "mixed")
    src = open_shards(tmp_path)
    batch = next(iter(make_loader(src, batch_size=3, workers=0, resampled=False, shuffle_buffer=0)))
    assert batch["png"].shape == (3, 3, SIZE, SIZE) and batch["png"].is_contiguous()
    assert batch["png"][:, :, 5, 5].tolist() == [[9, 7, 200], [77, 77, 77], [255, 255, 255]]
    assert load_into_memory(src, progress=False)["png"].equal(batch["png"])
    infos = [
        write_shard(tmp_path / "m-000000.tar", [("a", {"png": files[0]}), ("b", {"png": png(gray[:8])})])
    ]
    write_index(tmp_path, infos, "mixed")
    with pytest.raises(ValueError, match=r"m-000000\.tar:b\.png: image is 16x8, expected 16x16"):
        list(make_loader(open_shards(tmp_path), batch_size=2, workers=0, resampled=False))


def test_drop_last_and_unshuffled_order(faces: tuple[Path, list[str]]) -> None:
    src = open_shards(faces[0])
    ordered = make_loader(src, batch_size=4, workers=0, resampled=False, shuffle_buffer=0, drop_last=False)
    assert all_keys(ordered) == faces[1]
    dropped = make_loader(src, batch_size=4, workers=0, resampled=False, drop_last=True)
    batches = list(dropped)
    assert len(batches) == len(dropped) == 29 // 4
    assert all(len(b["__key__"]) == 4 for b in batches)


def test_shuffle_is_seeded(faces: tuple[Path, list[str]]) -> None:
    src = open_shards(faces[0])

    def order(seed: int, epoch: int = 0) -> list[str]:
        loader = make_loader(
            src, batch_size=5, seed=seed, epoch=epoch, workers=0, resampled=False, drop_last=False
        )
        return all_keys(loader)

    first = order(0)
    assert first == order(0)
    assert sorted(first) == faces[1]
    assert first != faces[1]
    assert order(1) != first
    assert order(0, epoch=1) != first


def test_ranks_and_workers_cover_each_sample_once(faces: tuple[Path, list[str]]) -> None:
    """2 ranks x 2 workers over 5 uneven shards: disjoint, complete, and every loop ends."""
    src = open_shards(faces[0])
    seen: list[str] = []
    for rank in (0, 1):
        loader = make_loader(
            src,
            batch_size=3,
            workers=2,
            resampled=False,
            rank=rank,
            world_size=2,
            drop_last=False,
            even_ranks=False,
        )
        keys = all_keys(loader)
        assert len(keys) > 0
        seen += keys
    assert sorted(seen) == faces[1]


def test_uneven_ranks_get_equal_batch_counts(tmp_path: Path) -> None:
    """3 shards over 2 ranks: the rank with fewer samples sets the epoch length for both."""
    make_faces(tmp_path, [8, 8, 8])
    src = open_shards(tmp_path)
    counts = []
    for rank in (0, 1):
        loader = make_loader(src, batch_size=4, workers=2, resampled=False, rank=rank, world_size=2)
        counts.append((len(loader), len(list(loader))))
    assert counts == [(2, 2), (2, 2)]
    # more ranks than shards: rank 3 has none and ends at once; with even_ranks so do the others
    idle = make_loader(src, batch_size=4, workers=2, resampled=False, rank=3, world_size=4, even_ranks=False)
    assert len(list(idle)) == len(idle) == 0
    busy = make_loader(src, batch_size=4, workers=2, resampled=False, rank=0, world_size=4, even_ranks=False)
    assert len(list(busy)) == len(busy) == 2
    assert len(list(make_loader(src, batch_size=4, workers=2, resampled=False, rank=0, world_size=4))) == 0


def test_resampled_is_infinite_deterministic_and_resumable(faces: tuple[Path, list[str]]) -> None:
    src = open_shards(faces[0])

    def take(n: int, **kw) -> list[list[str]]:
        loader = make_loader(src, batch_size=4, seed=3, workers=2, **kw)
        out = []
        for batch in loader:
            out.append(batch["__key__"])
            if len(out) == n:
                break
        loader.close()
        return out

    run = take(20)  # 80 samples from 29: it went on past the end of the data
    flat = [k for b in run for k in b]
    assert len(flat) == 80 and set(flat) <= set(faces[1]) and len(set(flat)) > 20
    assert run == take(20)
    assert take(20, rank=1, world_size=2) != run
    # resuming at batch 7 (odd, so workers swap roles) continues the uninterrupted run exactly
    assert take(13, start_batch=7) == run[7:]


def test_resume_without_workers(faces: tuple[Path, list[str]]) -> None:
    src = open_shards(faces[0])
    loader = make_loader(src, batch_size=5, seed=9, workers=0)
    it = iter(loader)
    run = [next(it)["__key__"] for _ in range(9)]
    resumed = iter(make_loader(src, batch_size=5, seed=9, workers=0, start_batch=4))
    assert [next(resumed)["__key__"] for _ in range(5)] == run[4:]


def test_infinite_loader_with_workers_exits_promptly(faces: tuple[Path, list[str]]) -> None:
    """Breaking out of an infinite loader and leaving the program does not hang on workers.

    The parent first runs a multi-threaded OpenCV op: forked workers must still decode.
    """
    script = textwrap.dedent(f"""
        import cv2, numpy as np
        from train.loader import make_loader, open_shards
        cv2.GaussianBlur(np.zeros((1500, 1500, 3), np.uint8), (0, 0), 3)
        loader = make_loader(open_shards({str(faces[0])!r}), batch_size=4, workers=2)
        for i, batch in enumerate(loader):
            if i == 3:
                break
        print("done", batch["png"].shape[0])
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done 4"


def test_bad_sample_is_reported(tmp_path: Path) -> None:
    make_faces(tmp_path, [3])
    infos = [
        write_shard(
            tmp_path / "faces-000000.tar", [("a0", {"png": png(face_image(1))}), ("a1", {"png": b"junk"})]
        )
    ]
    write_index(tmp_path, infos, "faces")
    for workers in (0, 1):
        loader = make_loader(open_shards(tmp_path), batch_size=2, workers=workers, resampled=False)
        with pytest.raises(ValueError, match=r"^faces-000000\.tar:a1\.png: not a decodable image") as err:
            list(loader)
        assert "\n" not in str(err.value)


# in memory ------------------------------------------------------------------------------------


def test_load_into_memory_matches_the_stream(faces: tuple[Path, list[str]]) -> None:
    src = open_shards(faces[0], fields=("png", "json"))
    data = load_into_memory(src, progress=False)
    assert data["__key__"] == faces[1]
    assert data["png"].shape == (29, 3, SIZE, SIZE) and data["png"].dtype == torch.uint8
    assert data["png"][:, 0, 0, 0].tolist() == list(range(29))
    assert [m["post_id"] for m in data["json"]] == list(range(29))
    again = load_into_memory(src, fields=("png",), workers=2, progress=False)
    assert torch.equal(again["png"], data["png"]) and "json" not in again


def test_memory_batches_are_a_function_of_seed_and_position() -> None:
    n = 10
    data = {"png": torch.arange(n).view(n, 1, 1, 1).expand(n, 1, 2, 2).to(torch.uint8).contiguous()}
    run = MemoryBatches(data, batch_size=4, seed=5)
    it = iter(run)
    batches = [next(it) for _ in range(10)]
    assert batches[0]["png"].shape == (4, 1, 2, 2)
    for b in batches:
        assert b["png"][:, 0, 0, 0].tolist() == b["__index__"].tolist()
    stream = torch.cat([b["__index__"] for b in batches]).tolist()
    # every cycle of n positions is a permutation, and cycles differ
    assert sorted(stream[:n]) == list(range(n)) and sorted(stream[n : 2 * n]) == list(range(n))
    assert stream[:n] != stream[n : 2 * n]
    resumed = iter(MemoryBatches(data, batch_size=4, seed=5, start_batch=6))
    for k in range(6, 10):
        assert torch.equal(next(resumed)["__index__"], batches[k]["__index__"])
    assert (
        MemoryBatches(data, batch_size=4, seed=6).batch(0)["__index__"].tolist()
        != batches[0]["__index__"].tolist()
    )
    # two ranks share one index stream: disjoint within a cycle, together a permutation
    r0 = MemoryBatches(data, batch_size=5, seed=5, rank=0, world_size=2).batch(0)["__index__"].tolist()
    r1 = MemoryBatches(data, batch_size=5, seed=5, rank=1, world_size=2).batch(0)["__index__"].tolist()
    assert sorted(r0 + r1) == list(range(n))
