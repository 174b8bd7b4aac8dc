"""A DVC-compatible stage runner: `dvc.yaml` + `params.yaml` in, `dvc.lock` out.

spec.py parses and validates the stage file, params.py loads params and fills in `${...}`,
dag.py orders the stages, hashing.py computes DVC's md5s (with an inode/size/mtime cache),
lock.py reads and writes `dvc.lock`, status.py says what changed and runner.py runs stages.
"""
