"""The shard loader shared by the trainers.

    src = open_shards("data/faces", fields=("png",))
    for batch in make_loader(src, batch_size=64, seed=0, workers=2):   # infinite (resampled)
        batch["png"]      # uint8 [B, 3, H, W]; a one-channel PNG gives [B, 1, H, W]
    data = load_into_memory(src, device="cuda")                        # decode once
    for batch in MemoryBatches(data, batch_size=64, seed=0, start_batch=step): ...

Details: `train.data.stream` (splitting over ranks and workers, resampling, resuming),
`train.data.memory` (in-memory sampling), `train.data.decode` (OpenCV decoding).
"""

from __future__ import annotations

from train.data.decode import DecodeError, decode_image
from train.data.memory import MemoryBatches, load_into_memory
from train.data.source import ShardSource, open_shards
from train.data.stream import ShardLoader, ShardStream, make_loader

__all__ = [
    "DecodeError",
    "MemoryBatches",
    "ShardLoader",
    "ShardSource",
    "ShardStream",
    "decode_image",
    "load_into_memory",
    "make_loader",
    "open_shards",
]
