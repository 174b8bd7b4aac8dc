"""The shard as the unit of work, of resume and of statistics (after img2dataset).

A stage splits its ordered input into chunks of `shard_size` items; chunk i becomes shard
`<prefix>-<i:06d>.tar`. Each chunk is processed in a worker process that writes the shard and
then a small done-record (`.<prefix>-<i:06d>.done.json`: the shard's index entry, its manifest
rows, its counters and a fingerprint of the chunk's input and the stage's params). A rerun skips
every chunk whose done-record matches, so a killed run resumes at shard granularity, and a
changed input or param recomputes only the chunks it touches. A chunk that yields no samples
writes no shard (never an empty tar), only its done-record.

The contract: a stage gives a typed params object (a frozen dataclass deriving from `JobParams`)
and a module-level work function `work(chunk, params) -> ChunkResult`, where `chunk` is a
`Chunk`: its index, the name of the shard it writes and its items. Params fields declared with
`locator()` only say where the input is (folder paths): the work function sees them, the
fingerprint does not, so moving the input folder does not recompute anything.

Why resume trusts a done-record after comparing the shard's size only, not its md5: the shard is
written to a temporary name, fsynced, renamed, and the rename made durable (the folder fsynced,
see core.atomic) before the done-record is even created, and the done-record is itself written
the same way. So once a done-record exists after a crash or power loss, the shard it names is
complete on disk; the failure the md5 would catch (a shard of zeros left by a rename that reached
the disk before the data) cannot happen in this order. The size check catches the shard being
deleted or replaced since. An md5 would cost reading every finished shard on every rerun (GBs for
raw-size line art) to guard only against later damage by something else (bit rot, a hand edit),
which is what `prep verify` is for.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from core.atomic import atomic_write_json, remove_stale_temporaries
from core.shards import Sample, ShardInfo, shard_name, write_index, write_shard


@dataclass
class ChunkResult:
    """What a stage's work function returns for one chunk."""

    samples: list[Sample] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)


@dataclass
class ShardRun:
    """The outcome of a whole stage run."""

    shards: list[ShardInfo]
    rows: list[dict[str, Any]]
    counters: Counter[str]
    chunks_total: int
    chunks_skipped: int
    items_computed: int = 0  # items in the chunks computed by this run (not resumed)


T = TypeVar("T")


@dataclass(frozen=True)
class Chunk(Generic[T]):
    """One unit of work: chunk `index` of the stage's items, which writes shard `shard` (a file name)."""

    index: int
    shard: str
    items: list[T]


def locator(default: Any = None) -> Any:
    """A params field that only locates the input (a folder path): kept out of the fingerprint."""
    return field(default=default, metadata={"locator": True})


@dataclass(frozen=True)
class JobParams:
    """Base of a stage's params: every field goes into each chunk's fingerprint except `locator()` ones."""

    def identity(self) -> dict[str, Any]:
        """What the output depends on: the fields that are not locators (JSON-serialisable)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("locator")}


WorkFn = Callable[[Chunk[Any], Any], ChunkResult]


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (params, item identities)."""
    data = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:32]


def _done_path(out: Path, prefix: str, index: int) -> Path:
    return out / f".{prefix}-{index:06d}.done.json"


def _load_done(out: Path, prefix: str, index: int, fp: str) -> dict[str, Any] | None:
    path = _done_path(out, prefix, index)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("fingerprint") != fp:
        return None
    shard = record.get("shard")
    if shard is not None:
        p = out / shard["url"]
        if not p.exists() or p.stat().st_size != shard["filesize"]:
            return None
    return record


def _run_chunk(
    out: str, prefix: str, fp: str, work_fn: WorkFn, chunk: Chunk[Any], params: Any
) -> dict[str, Any]:
    """Worker side: process one chunk, write its shard (if any samples) and its done-record."""
    result = work_fn(chunk, params)
    out_path = Path(out)
    index = chunk.index
    shard = None
    if result.samples:
        shard = asdict(write_shard(out_path / chunk.shard, result.samples))
    else:
        stale = out_path / chunk.shard
        if stale.exists():
            stale.unlink()
    record = {
        "fingerprint": fp,
        "shard": shard,
        "rows": result.rows,
        "counters": dict(result.counters),
    }
    # The done-record is written after the shard: its presence means the shard is complete.
    atomic_write_json(_done_path(out_path, prefix, index), record)
    return record


def _worker_context(work_fn: WorkFn) -> multiprocessing.context.BaseContext:
    """Workers fork from a forkserver that has imported the stage's module once.

    Not a plain fork of this process: a child forked after the parent used OpenCV's thread pool can
    deadlock. Not spawn either: each spawned worker would import cv2, numpy and the stage again
    (about half a CPU-second each), which showed in the 2-worker benchmarks.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # ignored by Python once this process's forkserver is running; harmless then
    ctx.set_forkserver_preload(["cv2", "numpy", work_fn.__module__])
    return ctx


def tune_malloc() -> None:
    """Keep freed image buffers in the heap instead of returning them to the OS (glibc only).

    Decoding a booru page allocates megabytes per image. glibc serves such blocks with mmap and
    unmaps them when freed, so a fresh worker pays page faults on every image: measured here,
    that made a fresh process about 20% slower per image than a warmed one. A fixed 64 MiB mmap
    threshold and a 128 MiB trim threshold avoid it at the cost of some resident memory.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def _init_worker() -> None:
    tune_malloc()
    # One OpenCV thread per process: the parallelism comes from the processes.
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def run_shard_jobs(
    out: str | Path,
    prefix: str,
    items: Sequence[Any],
    shard_size: int,
    work_fn: WorkFn,
    params: JobParams,
    item_id: Callable[[Any], Any],
    workers: int = 1,
    desc: str = "shards",
    index_name: str | None = None,
) -> ShardRun:
    """Process `items` in chunks of `shard_size` into shards under `out`, resuming finished chunks.

    `work_fn(chunk, params)` must be a module-level function (it runs in worker processes) and
    deterministic; `params` must pickle. `params.identity()` (what the output depends on) goes
    into each chunk's fingerprint with `item_id(item)` of its items (what identifies an item's
    input, e.g. `(post_id, file_md5, relative_path)`). Shards, done-records and chunk indices
    beyond this run's chunks (left by an earlier, larger run) are removed. Finally `shards.json`
    is written.
    """
    from tqdm import tqdm

    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    identity = params.identity()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    chunks = [
        Chunk(i // shard_size, shard_name(prefix, i // shard_size), list(items[i : i + shard_size]))
        for i in range(0, len(items), shard_size)
    ]
    records: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, str]] = []
    for index, chunk in enumerate(chunks):
        fp = fingerprint(prefix, identity, [item_id(it) for it in chunk.items])
        record = _load_done(out, prefix, index, fp)
        if record is None:
            todo.append((index, fp))
        else:
            records[index] = record
    _remove_beyond(out, prefix, len(chunks))

    skipped = len(records)
    tune_malloc()  # for the chunks run in this process
    with tqdm(total=len(chunks), initial=skipped, desc=desc, unit="shard", dynamic_ncols=True) as bar:
        if workers <= 1 or len(todo) <= 1:
            for index, fp in todo:
                records[index] = _run_chunk(str(out), prefix, fp, work_fn, chunks[index], params)
                bar.update(1)
        else:
            ctx = _worker_context(work_fn)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
                futures = {
                    pool.submit(_run_chunk, str(out), prefix, fp, work_fn, chunks[index], params): index
                    for index, fp in todo
                }
                for fut in as_completed(futures):
                    records[futures[fut]] = fut.result()
                    bar.update(1)

    shards: list[ShardInfo] = []
    rows: list[dict[str, Any]] = []
    counters: Counter[str] = Counter()
    for index in range(len(chunks)):
        record = records[index]
        if record["shard"] is not None:
            shards.append(ShardInfo(**record["shard"]))
        rows.extend(record["rows"])
        counters.update(record["counters"])
    write_index(out, shards, name=index_name or prefix)
    computed = sum(len(chunks[index].items) for index, _ in todo)
    return ShardRun(shards, rows, counters, len(chunks), skipped, items_computed=computed)


def _remove_beyond(out: Path, prefix: str, n_chunks: int) -> None:
    """Delete shards and done-records whose chunk index is >= n_chunks (an earlier, larger run)."""
    for pattern in (f"{prefix}-*.tar", f".{prefix}-*.done.json"):
        for p in out.glob(pattern):
            stem = p.name.lstrip(".").split(".", 1)[0]
            try:
                index = int(stem.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            if index >= n_chunks:
                p.unlink()


def rejected_by_reason(counters: Counter[str]) -> dict[str, int]:
    """{reason: count} from the `rejected_<reason>` counters, sorted by reason."""
    return {k.removeprefix("rejected_"): v for k, v in sorted(counters.items()) if k.startswith("rejected_")}


def source_figures(counters: Counter[str]) -> dict[str, Any]:
    """The per-source figures of a stage whose work functions count `sources_seen` and `sources_ok`."""
    rejected = rejected_by_reason(counters)
    return {
        "sources_seen": counters.get("sources_seen", 0),
        "sources_ok": counters.get("sources_ok", 0),
        "sources_rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
    }


def run_figures(run: ShardRun, seconds: float, workers: int, shard_size: int) -> dict[str, Any]:
    """The figures every shard stage's _stats.json has: shards, what was resumed, time and rate."""
    return {
        "shards": len(run.shards),
        "shards_resumed": run.chunks_skipped,
        "chunks": run.chunks_total,
        "seconds": round(seconds, 3),
        # Over the chunks computed in this run (resumed ones took no time).
        "images_per_s": round(run.items_computed / seconds, 2) if seconds > 0 else 0.0,
        "workers": workers,
        "shard_size": shard_size,
    }


def write_manifest(out: Path, name: str, rows: list[dict[str, Any]], schema: Any) -> None:
    """The stage's manifest `<out>/<name>` from its rows, checked against `schema`, written atomically."""
    import pyarrow as pa

    from core.atomic import atomic_write_parquet
    from schemas.validate import validate_table

    atomic_write_parquet(
        out / name, validate_table(pa.Table.from_pylist(rows, schema=schema), schema, where=name)
    )
