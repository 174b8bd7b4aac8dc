"""`train demo`: resolve the inputs, then serve the studio in the foreground or write the export."""

from __future__ import annotations

import sys
from pathlib import Path

from core.errors import UserError
from train.directions import store


def find_directions(ckpt: str, path: str | None, nz: int) -> store.Directions | None:
    """--directions (must exist), else the run directory's directions.json if there is one."""
    if path is not None:
        return store.load(path, nz)
    default = store.default_path(ckpt)
    if default.is_file():
        return store.load(default, nz, option="directions file")
    print(f"train demo: no {default}: no tag sliders (make them with `train directions`)", file=sys.stderr)
    return None


def run_demo(ckpt: str, directions: str | None, colorizer: str | None, host: str, port: int,
             export: str | None, device: str, quiet: bool = True) -> None:  # fmt: skip
    from train.dcgan import load_generator
    from train.engine.device import resolve_device

    if not 0 <= port <= 65535:
        raise UserError(f"--port must be in 0..65535, not {port}")
    _, opts = load_generator(ckpt, "cpu")
    dirs = find_directions(ckpt, directions, int(opts["nz"]))
    if export is not None:
        from train.demo.export import export as write_export

        r = write_export(ckpt, dirs, export)
        index = Path(r["out"]) / "index.html"
        print(f"train demo: wrote {index} ({r['tags']} sliders, {r['weights_mb']} MiB of weights); "
              f"serve it with `python -m http.server -d {r['out']}`")  # fmt: skip
        return
    from train.demo.server import DemoServer
    from train.demo.studio import Studio

    studio = Studio(ckpt, dirs, colorizer, resolve_device(device))
    try:
        server = DemoServer((host, port), studio, quiet)
    except OSError as e:
        raise UserError(
            f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host"
        ) from e
    print(f"train demo: serving {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
