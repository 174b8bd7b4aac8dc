"""The project's shared library: a leaf that imports no other package of the project.

errors (the one user-facing exception), atomic writes, image decoding, stage statistics,
file hashing, the shard format and the tag vocabulary (the data contract between the stages in
`prep/` and the trainers in `train/`), and the typer app settings both CLIs share.
"""
