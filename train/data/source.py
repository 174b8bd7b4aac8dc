"""`open_shards`: find and check a folder of shards (or a remote one) before any training starts."""

from __future__ import annotations

import tarfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import shards as local
from core.errors import UserError
from core.shards import count_samples, read_index
from train.data import remote
from train.data.decode import DecodeError, decode_image, is_image_field


@dataclass(frozen=True)
class ShardSource:
    """A checked folder of shards and what its samples look like."""

    folder: str
    shards: list[str]
    """Absolute shard paths or URLs (see `train.data.remote`), in index order."""
    sizes: list[int]
    """Samples per shard (same order as `shards`)."""
    fields: tuple[str, ...]
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(H, W) per image field, from the first sample."""
    channels: dict[str, int] = field(default_factory=dict)
    """Channels per image field (1 grayscale, 3 RGB), from the first sample."""

    @property
    def num_samples(self) -> int:
        return sum(self.sizes)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the first image field."""
        for f in self.fields:
            if f in self.image_sizes:
                return self.image_sizes[f]
        raise ValueError("this source has no image field")


def iter_samples(
    shard: str | Path, fields: Collection[str] | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """`core.shards.iter_samples` for one entry of `ShardSource.shards`: a local path or a URL."""
    if isinstance(shard, str) and remote.is_remote(shard):
        return remote.iter_url_samples(shard, fields)
    return local.iter_samples(shard, fields)


def _first_sample(path: str | Path) -> tuple[str, dict[str, bytes]] | None:
    it = iter_samples(str(path))
    try:
        for key, files in it:
            return key, files
        return None
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _list_shards(folder: Path) -> tuple[list[Path], list[int]]:
    index = folder / "shards.json"
    if index.exists():
        try:
            infos = read_index(folder)
        except ValueError as e:
            raise UserError(f"{index}: {e}; rebuild the shards with `prep`") from e
        paths = [folder / i.url for i in infos]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(
                f"{index} lists {len(missing)} shard(s) that do not exist, e.g. {missing[0]}; "
                "rebuild the shards with `prep`"
            )
        return paths, [i.nsamples for i in infos]
    paths = sorted(folder.glob("*.tar"))
    return paths, [count_samples(p) for p in paths]


def open_shards(path: str | Path, fields: Sequence[str] = ("png",)) -> ShardSource:
    """Check a shard folder (`shards.json` + `*.tar`, or a single `.tar`) holding `fields`.

    Raises `UserError` for a missing or empty folder, no shards, no samples, or a first sample
    lacking one of `fields` (the message lists the fields the shards do have).
    """
    if isinstance(fields, str):
        fields = (fields,)
    fields = tuple(fields)
    if not fields:
        raise UserError("no fields requested from the shards (e.g. fields=('png',))")
    if isinstance(path, str) and remote.is_remote(path):
        folder, urls, counts = remote.resolve(path)
        if counts is None:
            counts = [remote.count_url_samples(u) for u in urls]
        return _checked(path, folder, urls, counts, fields)
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"shard folder {path} does not exist; build it with `prep faces` / `prep canny` or pass the right --shards"
        )
    if path.is_file():
        if path.suffix != ".tar":
            raise UserError(
                f"--shards {path}: not a shard (.tar) or a folder of shards; pass the folder `prep faces` or `prep canny` wrote"
            )
        paths, sizes = [path], [count_samples(path)]
    else:
        paths, sizes = _list_shards(path)
    if not paths:
        raise UserError(f"{path} holds no shards (no shards.json and no *.tar); create them with `prep`")
    folder = path.parent if path.is_file() else path
    return _checked(str(path), str(folder.resolve()), [str(p.resolve()) for p in paths], list(sizes), fields)


def _checked(
    path: str, folder: str, paths: list[str], sizes: list[int], fields: tuple[str, ...]
) -> ShardSource:
    """The ShardSource of listed shards, after checking their first sample holds `fields`."""
    if not paths:
        raise UserError(f"{path} lists no shards; create them with `prep`")
    nonempty = [(p, n) for p, n in zip(paths, sizes, strict=True) if n > 0]
    if not nonempty:
        raise UserError(f"the {len(paths)} shard(s) in {path} hold no samples; rebuild them with `prep`")
    first_path = nonempty[0][0]
    try:
        first = _first_sample(first_path)
    except (OSError, tarfile.TarError) as e:
        raise UserError(f"cannot read shard {first_path}: {e}; check it with `prep verify {path}`") from e
    if first is None:
        raise UserError(f"shard {first_path} holds no samples although its index says it does; rebuild it")
    key, files = first
    missing = [f for f in fields if f not in files]
    if missing:
        have = ", ".join(sorted(files)) or "nothing"
        raise UserError(
            f"shards in {path} lack field(s) {', '.join(missing)} (sample {key} has: {have}); "
            "point at the right shard folder or request the fields they have"
        )
    image_sizes: dict[str, tuple[int, int]] = {}
    channels: dict[str, int] = {}
    for f in fields:
        if is_image_field(f):
            try:
                img = decode_image(files[f], where=f"{first_path}:{key}.{f}")
            except DecodeError as e:
                raise UserError(str(e)) from e
            image_sizes[f] = (img.shape[0], img.shape[1])
            channels[f] = img.shape[2]
    return ShardSource(
        folder=folder,
        shards=paths,
        sizes=sizes,
        fields=fields,
        image_sizes=image_sizes,
        channels=channels,
    )
