"""`--shards` as a URL: shards.json over real HTTP (127.0.0.1), folder URLs, brace patterns, pipe:,
s3:// (through a stand-in `aws` on PATH), one-line errors, and two torchrun nodes sharing the shards."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.shards import write_index, write_shard
from tests.conftest import ROOT, run_cli

N_SHARDS, PER_SHARD = 4, 5


def _png(i: int) -> bytes:
    from PIL import Image

    img = np.full((8, 8, 3), i * 10 % 256, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    """A real HTTP server on 127.0.0.1 serving faces/ (4 shards + shards.json) and bare/ (tars only)."""
    root = tmp_path_factory.mktemp("site")
    infos, keys = [], []
    for s in range(N_SHARDS):
        samples = [(f"k{s}_{j}", {"png": _png(s * PER_SHARD + j)}) for j in range(PER_SHARD)]
        keys += [k for k, _ in samples]
        infos.append(write_shard(root / "faces" / f"faces-{s:06d}.tar", samples))
        (root / "bare").mkdir(exist_ok=True)
        (root / "bare" / f"faces-{s:06d}.tar").write_bytes(
            (root / "faces" / f"faces-{s:06d}.tar").read_bytes()
        )
    write_index(root / "faces", infos, "faces")
    (root / "faces" / "broken.json").write_text("{not json")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, keys
    finally:
        server.shutdown()
        server.server_close()


def _keys(src: object) -> list[str]:
    from train.data.stream import make_loader

    loader = make_loader(src, batch_size=3, workers=0, resampled=False, shuffle_buffer=0, drop_last=False)
    return [k for b in loader for k in b["__key__"]]


def test_shards_json_over_http_streams_like_the_local_folder(site) -> None:
    from train.data.memory import load_into_memory
    from train.data.source import open_shards

    url, root, keys = site
    local = open_shards(root / "faces", fields=("png",))
    for spec in (f"{url}/faces/shards.json", f"{url}/faces", f"{url}/faces/"):
        src = open_shards(spec, fields=("png",))
        assert src.shards == [f"{url}/faces/faces-{s:06d}.tar" for s in range(N_SHARDS)]
        assert src.sizes == [PER_SHARD] * N_SHARDS and src.image_sizes == {"png": (8, 8)}
    assert _keys(src) == _keys(local) == keys
    remote_data, local_data = load_into_memory(src, progress=False), load_into_memory(local, progress=False)
    assert remote_data["__key__"] == keys and bool((remote_data["png"] == local_data["png"]).all())


def test_brace_patterns_with_and_without_an_index(site) -> None:
    from train.data.source import open_shards

    url, _, keys = site
    src = open_shards(f"{url}/faces/faces-{{000000..000003}}.tar", fields=("png",))
    assert len(src.shards) == N_SHARDS and src.sizes == [PER_SHARD] * N_SHARDS  # from the sibling index
    assert _keys(src) == keys
    bare = open_shards(f"{url}/bare/faces-{{000001..000002}}.tar", fields=("png",))  # counted by reading
    assert bare.sizes == [PER_SHARD, PER_SHARD] and _keys(bare) == keys[PER_SHARD : 3 * PER_SHARD]


def test_pipe_and_s3_urls(site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from train.data.source import open_shards

    _, root, keys = site
    src = open_shards(f"pipe:cat {root}/faces/shards.json", fields=("png",))
    assert src.shards[0] == f"pipe:cat {root}/faces/faces-000000.tar" and _keys(src) == keys
    # s3:// runs `aws s3 cp URL -`: a stand-in aws maps s3://bucket/KEY to a file under the site
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "aws"
    fake.write_text(
        "#!/bin/sh\n# aws s3 cp --quiet s3://bucket/KEY -\n"
        f'key="${{4#s3://bucket/}}"; [ -f "{root}/$key" ] || {{ echo "fatal error: 404 $4" >&2; exit 1; }}\n'
        f'cat "{root}/$key"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    src = open_shards("s3://bucket/faces", fields=("png",))
    assert src.shards[-1] == "s3://bucket/faces/faces-000003.tar" and _keys(src) == keys
    with pytest.raises(UserError, match="fatal error: 404"):
        open_shards("s3://bucket/nothing/shards.json", fields=("png",))


def test_bad_urls_are_one_line_errors(site, tmp_path: Path) -> None:
    from train.data.source import open_shards

    url, _, _ = site
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed
    cases = {
        f"{url}/missing/shards.json": "HTTP 404",
        f"http://127.0.0.1:{closed}/faces/shards.json": "cannot connect",
        f"{url}/faces/broken.json": "not a shard index",
        "ftp2://host/faces": "unsupported URL scheme",
        f"{url}/faces/faces-{{000000..000009}}.tar": "HTTP 404",  # the pattern names shards that are not there
    }
    for spec, words in cases.items():
        with pytest.raises(UserError, match=words) as e:
            open_shards(spec, fields=("png",))
        assert "\n" not in str(e.value) and spec.split("{")[0] in str(e.value)
    r = run_cli(
        "train", "dcgan", "--shards", f"{url}/missing/shards.json", "--out", str(tmp_path / "r"), cwd=tmp_path
    )
    assert r.returncode == 2 and "HTTP 404" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


NODE = """
import json, sys
import torch.distributed as dist
from train.data.source import open_shards
from train.data.stream import make_loader

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
src = open_shards(sys.argv[1], fields=("png",))
loader = make_loader(src, batch_size=2, workers=0, resampled=False, rank=rank, world_size=world,
                     shuffle_buffer=0, drop_last=False, even_ranks=False)
keys = [k for b in loader for k in b["__key__"]]
everyone = [None] * world
dist.all_gather_object(everyone, keys)
with open(f"{sys.argv[2]}/node{rank}.json", "w") as f:
    json.dump({"rank": rank, "world": world, "keys": keys, "all": everyone}, f)
dist.destroy_process_group()
"""


def test_two_torchrun_nodes_read_their_share_of_remote_shards(site, tmp_path: Path) -> None:
    """`torchrun --nnodes 2` as two nodes on one machine (CPU, gloo, rendezvous on 127.0.0.1)."""
    url, _, keys = site
    script = tmp_path / "node.py"
    script.write_text(NODE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(r),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                str(script),
                f"{url}/faces/shards.json",
                str(tmp_path),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outs
    got = [json.loads((tmp_path / f"node{r}.json").read_text()) for r in range(2)]
    assert [g["world"] for g in got] == [2, 2] and got[0]["all"] == got[1]["all"]
    a, b = got[0]["keys"], got[1]["keys"]
    assert a and b and not set(a) & set(b) and sorted(a + b) == sorted(keys)
    # each node read whole shards of its own: rank r takes shards r, r + 2, ...
    assert {k.split("_")[0] for k in a} == {"k0", "k2"} and {k.split("_")[0] for k in b} == {"k1", "k3"}
