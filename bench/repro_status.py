"""How long `prep status` takes on a big tree, cold and with the hash cache (run by hand).

    .venv/bin/python bench/repro_status.py [--files 30000] [--dir /tmp/repro-bench]

Builds a one-stage pipeline whose output is a tree of N small files, records it in dvc.lock, then
times `prep status` twice in fresh processes: the first hashes every file, the second should find
every hash in `.prep/hashes.sqlite` and only stat the files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/repro-bench"))
    args = ap.parse_args()
    root: Path = args.dir
    shutil.rmtree(root, ignore_errors=True)
    tree = root / "data" / "tree"
    old = time.time() - 3600  # older than the cache's 2-second "racy" window
    for i in range(args.files):
        d = tree / f"{i % 1000:03d}"
        if i < 1000:
            d.mkdir(parents=True)
        p = d / f"{i}.txt"
        p.write_bytes(os.urandom(512))
        os.utime(p, (old, old))
    (root / "dvc.yaml").write_text(
        "stages:\n  make:\n    cmd: 'true'\n    outs:\n    - data/tree:\n        persist: true\n"
    )

    def prep(*cmd: str) -> tuple[float, str]:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "prep", *cmd], cwd=root, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        return time.perf_counter() - t, out.stdout.strip().splitlines()[-1]

    t_repro, _ = prep("repro")  # hashes everything once to write the lock
    shutil.rmtree(root / ".prep")  # so that the next status starts cold
    t_cold, cold = prep("status")
    t_warm, warm = prep("status")
    print(
        f"{args.files} files: repro {t_repro:.2f}s; status cold {t_cold:.2f}s {cold}; warm {t_warm:.2f}s {warm}"
    )


if __name__ == "__main__":
    main()
