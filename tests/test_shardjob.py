"""The shard-job runner: chunking, parallel workers, resume, determinism, no empty shards."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from core.shards import iter_samples, read_index, shard_name
from prep.shardjob import Chunk, ChunkResult, JobParams, locator, run_shard_jobs

CALLS_FILE = "calls.log"


@dataclass(frozen=True)
class SquareParams(JobParams):
    scale: int
    log_dir: str


def square_work(chunk: Chunk[int], params: SquareParams) -> ChunkResult:
    """Emit one sample per even item; odd items are 'rejected'."""
    assert chunk.shard == shard_name("sq", chunk.index)  # the worker knows the shard it writes
    items, scale = chunk.items, params.scale
    with open(f"{params.log_dir}/{CALLS_FILE}", "a") as f:
        f.write(json.dumps(items) + "\n")
    res = ChunkResult()
    for it in items:
        if it % 2:
            res.rows.append({"id": it, "status": "odd"})
            res.counters["rejected"] += 1
        else:
            res.samples.append((f"k{it:04d}", {"txt": str(it * scale).encode()}))
            res.rows.append({"id": it, "status": "ok"})
            res.counters["ok"] += 1
    return res


def run(out, items, workers=1, scale=2, log_dir=None):
    return run_shard_jobs(
        out,
        "sq",
        items,
        shard_size=4,
        work_fn=square_work,
        params=SquareParams(scale, str(log_dir or out)),
        item_id=lambda x: x,
        workers=workers,
    )


def calls(log_dir):
    path = log_dir / CALLS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_runs_resumes_and_is_deterministic(tmp_path):
    items = [*range(10), 11, 13, 15, 17]  # the last chunk (11..17) has no even item -> no shard
    r1 = run(tmp_path / "a", items, workers=2, log_dir=tmp_path)
    assert r1.chunks_total == 4 and r1.chunks_skipped == 0
    assert [s.url for s in r1.shards] == ["sq-000000.tar", "sq-000001.tar", "sq-000002.tar"]
    assert not (tmp_path / "a" / "sq-000003.tar").exists()
    assert r1.counters == Counter(ok=5, rejected=9)
    assert [r["id"] for r in r1.rows] == items
    assert read_index(tmp_path / "a") == r1.shards
    assert [k for k, _ in iter_samples(tmp_path / "a" / "sq-000001.tar")] == ["k0004", "k0006"]

    # same input, other worker count, other folder: byte-identical shards
    run(tmp_path / "b", items, workers=1, log_dir=tmp_path / "a")
    for s in r1.shards:
        assert (tmp_path / "a" / s.url).read_bytes() == (tmp_path / "b" / s.url).read_bytes()

    # rerun: nothing recomputed
    n_calls = len(calls(tmp_path))
    r3 = run(tmp_path / "a", items, log_dir=tmp_path)
    assert r3.chunks_skipped == 4 and len(calls(tmp_path)) == n_calls and r3.shards == r1.shards


def test_resume_after_lost_shard_and_changed_params(tmp_path):
    items = list(range(12))
    run(tmp_path, items)
    (tmp_path / "sq-000001.tar").unlink()  # as if killed between shard and done-record
    (tmp_path / CALLS_FILE).unlink()
    run(tmp_path, items)
    assert calls(tmp_path) == [[4, 5, 6, 7]]
    (tmp_path / CALLS_FILE).unlink()
    r = run(tmp_path, items, scale=3)  # a param change recomputes everything
    assert len(calls(tmp_path)) == 3 and r.chunks_skipped == 0
    (tmp_path / CALLS_FILE).unlink()
    r = run(tmp_path, items[:5], scale=3)  # fewer items: later shards are removed
    assert [s.url for s in r.shards] == ["sq-000000.tar", "sq-000001.tar"]
    assert sorted(p.name for p in tmp_path.glob("sq-*.tar")) == ["sq-000000.tar", "sq-000001.tar"]
    assert calls(tmp_path) == [[4]]


@dataclass(frozen=True)
class LocatedParams(JobParams):
    scale: int
    log_dir: str = locator()


def test_locator_fields_stay_out_of_the_fingerprint(tmp_path):
    """A field declared with locator() reaches the work function but moving it recomputes nothing."""
    assert LocatedParams(2, "x").identity() == {"scale": 2}
    items = list(range(8))
    for log_dir in (tmp_path / "l1", tmp_path / "l2"):
        log_dir.mkdir()
        r = run_shard_jobs(
            tmp_path / "o", "sq", items, 4, square_work, LocatedParams(2, str(log_dir)), lambda x: x
        )
    assert r.chunks_skipped == 2 and len(calls(tmp_path / "l1")) == 2 and not calls(tmp_path / "l2")
