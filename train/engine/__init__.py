"""Model-agnostic training machinery: one training loop (`training_loop.run`) that a trainer fills in.

Writing a trainer (the whole API; `train/dcgan.py` and `train/pix2pix.py` are the examples):

    # train/commands/mytrainer.py  (light: no torch; the CLI imports it at start-up)
    @dataclass
    class MyOptions(RunOptions):                   # run-level options: batch, kimg, resume, ...
        shards: str = option("data/faces", "Face shards from `prep faces`.")
        out: str = "runs/mytrainer"                # a run-level option with this trainer's default
        width: int = option(32, "Channels of the first layer.", identity=True)   # defines the run

    main = command(MyOptions, "train.mytrainer", "Train my model; `--resume auto` continues a run.")
    # train/cli.py: app.command("mytrainer")(mytrainer.main)

    # train/mytrainer.py
    class MyTrainer(Trainer):
        kind, figures, guarded = "mytrainer", ("loss", "acc"), 1
        def prepare(self):  self.src = open_shards(self.o.shards, ("png",)); return {}
        def build(self):                           # under torch.manual_seed(--seed)
            net = Net(self.o.width).to(self.device)
            return Parts({"net": net}, {"opt": torch.optim.Adam(net.parameters(), self.o.lr)}, trained=("net",))
        def batches(self, start_step):  return engine_data.memory_batches(...)
        def step(self, batch, nan):                # -> 1-D device tensor of `figures`
            ...self.nets["net"](x)..., self.nets.opt["opt"].step()
    def train(o, explicit=None):  return training_loop.run(MyTrainer, o, explicit)

The engine owns everything else: option checks and defaults (`options`: declared once, the CLI is
built from the dataclass), resume (`resume`: continue, or with `--on-change restart` set a run
that no longer fits aside), snapshots of every named network, optimiser, per-rank generator, RNG
state and counter (`state`), EMA (`Parts.ema`), DDP and --compile wrapping (`Parts.trained`),
ticks and snapshots in kimg, the NaN stop, stats.jsonl, `_stats.json` and the summary line. The
order of the steps (e.g. RNG restore after the data is loaded) is the code of `training_loop._run`.
Optional hooks (`trainer.Trainer`): check, restore, begin (fixed samples, tick-0 figures), on_tick,
evaluate (metrics at `eval_kimg` or at snapshots), extra_state, summary, tick_line.

Modules:
- `training_loop`: `run(TrainerClass, options, explicit)`, the loop itself.
- `trainer`: `Trainer` (the hooks), `Parts` (networks/optimisers by name), `Nets` (as the step uses them).
- `options`: `RunOptions`, `option(...)` (default, help, identity, flags), their checks.
- `resume`: which snapshot to continue, what defines a run (options, data hash, length), superseding.
- `state`: a snapshot's contents and putting them back.
- `session`: starting the processes, each rank's batch, the run's header, the NaN stop.
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
- `console`: the resolved options printed with non-defaults highlighted.
"""
