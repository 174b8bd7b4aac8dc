"""Model-agnostic training machinery shared by the trainers (DCGAN, pix2pix).

- `options`: `RunOptions`, the run-level options every trainer's options inherit, and their checks.
- `session`: the run's start (processes, resume, header), the G/D pair's DDP wrapping and snapshot.
- `loop`: `Clock`, the loop's bookkeeping: counters, ticks/snapshots in kimg, timing, progress bar.
- `data`: `--data auto|memory|stream`: decode once into device memory, or stream the shards.
- `device`: --device/--precision resolution and the autocast context.
- `distributed`: DDP set-up from torchrun's environment; rank 0 alone writes files.
- `rundir`: the run directory: options.json, stats.jsonl, atomic snapshots, resume.
- `schedule`: intervals counted in images seen (kimg), never in step counters.
- `ema`: exponential moving average of a model (StyleGAN-style half-life in kimg).
- `guard`: stops a run on a non-finite loss without a per-step host sync.
- `rng`: capture and restore every RNG state a snapshot needs.
- `meters`: per-tick timing (images/s, data-wait share) and memory figures.
"""
