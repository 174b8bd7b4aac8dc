"""The one training loop (the shape of stylegan2-ada's `training_loop`): everything but the model.

`run(TrainerClass, options, explicit)` checks the options, joins the process group, resolves
--resume (continuing, or setting a run that no longer fits aside), announces the run, builds the
trainer's parts under the seed, restores a snapshot, wraps the networks (DDP, --compile), loads the
data, restores the RNG states (after the data: building it draws from the global RNG), sets up
fixed samples, then steps: EMA after each step, and at each tick one host sync, the NaN stop, the
trainer's figures and evaluation, snapshots, stats.jsonl; finally `_stats.json` and the summary line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.stats import STATS_NAME, summary_line, write_stats
from train.engine import distributed, rng, session, state
from train.engine.distributed import Dist
from train.engine.ema import ema_beta, update_ema
from train.engine.loop import Clock, new_counters
from train.engine.options import identity_names
from train.engine.resume import data_hash, read_json, resolve_resume, supersede
from train.engine.rundir import RunDir, read_stats
from train.engine.schedule import Every
from train.engine.trainer import Nets, Parts, Trainer


def run(cls: type[Trainer], o: Any, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a training run of trainer `cls` with options `o`; returns the summary (also
    in `<out>/_stats.json`). `explicit`: the options given on the command line."""
    from train.engine.device import resolve_device

    cls.check(o)
    d = distributed.setup(resolve_device(o.device))
    try:
        return _run(cls, o, explicit or set(), d)
    finally:
        distributed.cleanup(d)


def _open_run(cls: type[Trainer], o: Any, explicit: set[str], d: Dist) -> tuple[RunDir, Any, str | None]:
    """(run directory, snapshot state or None, data hash): resume, or set aside a run that no longer fits."""
    data = data_hash(o.shards) if o.shards else None
    run_dir = RunDir(o.out, is_main=d.is_main)
    found, why = resolve_resume(o, run_dir, explicit, identity_names(type(o)), cls.kind, data)
    if why:
        distributed.barrier(d)  # every rank has read the old run before it moves
        if d.is_main:
            moved = supersede(run_dir.path)
            print(f"train {cls.kind}: {'; '.join(why)}: the old run is kept as {moved}; starting a new run")
        distributed.barrier(d)
        run_dir = RunDir(o.out, is_main=d.is_main)
    return run_dir, found, data


def _finished(t: Trainer) -> dict[str, Any] | None:
    """A resumed run that is already complete: its `_stats.json`, left as it is (None: train, or
    write the summary again from the last stats line when `_stats.json` is missing or older)."""
    if t.state is None or t.state["counters"]["nimg"] < t.o.total_nimg():
        return None
    done = read_json(t.dir.path / STATS_NAME)
    return done if done is not None and done.get("steps") == t.state["counters"]["step"] else None


def _wrap(parts: Parts, gens: dict[str, Any], d: Dist, compile: bool) -> Nets:
    import torch

    nets = Nets(dict(parts.nets), dict(parts.opts), gen=gens)
    for name in parts.trained:
        net = parts.nets[name]
        nets.trained[name] = distributed.wrap_ddp(d, net)
        if compile:
            nets.trained[name], nets.locals_[name] = torch.compile(nets.trained[name]), torch.compile(net)
    return nets


def _run(cls: type[Trainer], o: Any, explicit: set[str], d: Dist) -> dict[str, Any]:
    import torch

    from train.engine.device import resolve_precision

    t = cls()
    t.o, t.d, t.device = o, d, d.device
    t.precision = resolve_precision(o.precision, d.device)
    t.dir, t.state, data = _open_run(cls, o, explicit, d)
    t.data_id = {"shards": o.shards, "hash": data}
    cls.check(o)  # again: the identity options may come from the snapshot
    done = _finished(t)
    if done is not None:
        print(f"train {cls.kind}: the run in {o.out} is complete ({done.get('kimg')} kimg); nothing to train")
        print(summary_line(f"train {cls.kind}", done, list(cls.summary_keys)))
        return done
    t.per_rank = session.per_rank_batch(o.batch, d)
    extra = t.prepare()
    resolved = {"device": t.device, "precision": t.precision, "world_size": d.world_size, **extra}
    session.announce(cls.kind, o, t.dir, t.state, {**resolved, "data_hash": t.data_id["hash"]})

    torch.manual_seed(o.seed)
    parts = t.build()
    t.counters = new_counters()
    gens = {name: make(0) for name, make in parts.generators.items()}
    last: dict[str, Any] = {}
    if t.state is not None:
        t.counters = state.restore(t.state, parts, gens, d)
        t.restore(t.state)
        t.dir.truncate_stats(t.counters["nimg"])
        last = _last_record(t.dir)
    t.nets = _wrap(parts, gens, d, o.compile)

    batches = t.batches(t.counters["step"])
    if t.state is not None:
        rng.restore(t.state["rng"])  # after the data: building it draws from the global RNG
    first = t.begin()
    if t.state is None and first:
        t.dir.append_stats({"tick": 0, "step": 0, "nimg": 0, "kimg": 0.0, **first})
    clock = Clock(o, t.counters, nstats=len(cls.figures), desc=cls.kind, d=d)
    evals = Every(t.eval_kimg, t.counters["nimg"]) if t.eval_kimg is not None else None
    last_snap = Path(t.state["path"]) if t.state is not None else None
    for name in parts.trained:
        parts.nets[name].train()
    try:
        while not clock.done:
            batch = clock.next_batch(batches)
            figures = t.step(batch, clock.nan_now)
            clock.observe(figures[: cls.guarded])
            clock.add(figures)
            clock.advance()
            for avg, (src, kimg, rampup) in parts.ema.items():
                update_ema(
                    parts.nets[avg], parts.nets[src], ema_beta(o.batch, t.counters["nimg"], kimg, rampup)
                )
            is_snap = clock.snap_due()
            is_eval = is_snap if evals is None else (evals.due(t.counters["nimg"]) or clock.done)
            if not (clock.tick_due() or is_snap or is_eval):
                continue
            # -- tick: one synchronisation, a stats line, the NaN check -------------------------------------
            record, means = clock.tick(last_snap)
            record.update(zip(cls.figures, means, strict=True))
            t.on_tick(record)
            gathered = state.gather_generators(t) if is_snap else {}
            if is_eval and d.is_main:
                t.evaluate(record)
            if is_snap and d.is_main:
                last_snap = t.dir.save_snapshot(state.capture(t, gathered), t.counters["nimg"], keep=o.keep)
                record["snapshot"] = last_snap.name if last_snap else None
            if is_snap or is_eval:
                clock.pause_done()  # snapshot and evaluation time is not training time
            t.dir.append_stats(record)
            last = record
            clock.write(t.tick_line(record))
    finally:
        clock.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    summary = {**clock.summary(t.dir.path, t.precision, last), **t.summary(last)}
    if d.is_main:
        write_stats(t.dir.path, f"train-{cls.kind}", summary)
        print(summary_line(f"train {cls.kind}", summary, list(cls.summary_keys)))
    return summary


def _last_record(run_dir: RunDir) -> dict[str, Any]:
    """The last stats line of a resumed run (its summary if it trains no further step)."""
    path = run_dir.path / "stats.jsonl"
    records = read_stats(path) if path.exists() else []
    return records[-1] if records else {}
