"""The run directory: resolved options, one stats line per tick, atomic snapshots and resume.

Layout of `--out`:
    options.json                      resolved options of the run
    stats.jsonl                       one JSON object per tick (and per snapshot)
    network-snapshot-<kimg>.pt        full training state, written atomically
    latest.json                       pointer to the newest complete snapshot
    reals.png, fakes_<kimg>.png       image grids (written by the trainer)
Only rank 0 writes; the other ranks read.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_bytes, atomic_write_json, remove_stale_temporaries
from core.errors import UserError
from train.engine.schedule import kimg_label

LATEST = "latest.json"
SNAPSHOT_GLOB = "network-snapshot-*.pt"


class RunDir:
    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path)
        self.is_main = is_main
        if is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.path)

    # -- options and stats ------------------------------------------------------------------------
    def write_options(self, options: dict[str, Any]) -> None:
        if self.is_main:
            atomic_write_json(self.path / "options.json", options)

    def append_stats(self, record: dict[str, Any]) -> None:
        """Append one JSON line; a torn last line (killed writer) is tolerated by `read_stats`."""
        if self.is_main:
            with open(self.path / "stats.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_stats(self, cur_nimg: int) -> None:
        """On resume, drop lines written after the snapshot we resume from (they will be redone)."""
        if not self.is_main:
            return
        path = self.path / "stats.jsonl"
        if path.exists():
            kept = [r for r in read_stats(path) if r.get("nimg", 0) <= cur_nimg]
            atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_path(self, cur_nimg: int) -> Path:
        return self.path / f"network-snapshot-{kimg_label(cur_nimg)}.pt"

    def save_snapshot(self, state: dict[str, Any], cur_nimg: int, keep: int = 3) -> Path | None:
        """Write the snapshot atomically, then point latest.json at it, then prune old ones."""
        if not self.is_main:
            return None
        import torch

        path = self.snapshot_path(cur_nimg)
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(path, buf.getvalue())
        atomic_write_json(self.path / LATEST, {"snapshot": path.name, "nimg": cur_nimg})
        if keep > 0:
            for old in sorted(self.path.glob(SNAPSHOT_GLOB))[:-keep]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path

    def latest_snapshot(self) -> Path | None:
        """The newest complete snapshot: latest.json's, else the last by name, else None."""
        pointer = self.path / LATEST
        if pointer.exists():
            try:
                p = self.path / json.loads(pointer.read_text())["snapshot"]
                if p.exists():
                    return p
            except (ValueError, KeyError):
                pass
        snaps = sorted(self.path.glob(SNAPSHOT_GLOB))
        return snaps[-1] if snaps else None


def read_stats(path: str | Path) -> list[dict[str, Any]]:
    """All complete lines of a stats.jsonl."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def find_snapshot(path: str | Path) -> Path:
    """A snapshot file, or the latest snapshot of a run directory; UserError if there is none."""
    p = Path(path)
    if p.is_dir():
        snap = RunDir(p, is_main=False).latest_snapshot()
        if snap is None:
            raise UserError(
                f"{p}: no network-snapshot-*.pt in this run directory; train first or give a snapshot file"
            )
        return snap
    if not p.exists():
        raise UserError(f"{p}: no such checkpoint; give a network-snapshot-*.pt file or a run directory")
    return p


def load_snapshot(path: str | Path, kind: str, map_location: str = "cpu") -> dict[str, Any]:
    """Load with `weights_only=True` and check it is a snapshot of `kind` (e.g. 'dcgan')."""
    import torch

    path = find_snapshot(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"{path}: not a readable training snapshot ({first}); give a network-snapshot-*.pt written by `train`"
        ) from e
    if not isinstance(state, dict) or "kind" not in state:
        raise UserError(
            f"{path}: not a training snapshot written by `train` (no 'kind' field); give a network-snapshot-*.pt from a run directory"
        )
    if state["kind"] != kind:
        raise UserError(
            f"{path}: a {state['kind']} snapshot, but this command needs a {kind} one; give a snapshot of a `train {kind}` run"
        )
    return state
