"""Content shards (`prep images`): the manifest `content.parquet` and each sample's `<key>.json`.

A sample holds one image, `<key>.jpg` (default) or `<key>.png` (`--format png`; the same in every
sample of a folder), whose shorter side is `--size`, and `<key>.json` (CONTENT_SAMPLE). Keys are
`img_<first 16 hex digits of the sha256 of the source's path relative to --src>`. The manifest has
one row per image file found, with `ok` or the reason it was rejected as its status.
"""

from __future__ import annotations

import pyarrow as pa

STATUS_OK = "ok"
# Statuses besides "ok": the core.images.ImageRejected reasons (empty, missing, truncated,
# not_image, undecodable, too_large), `too_small` (shorter side under --size / 2, which would need
# more than 2x upscaling) and `error` (an unexpected failure; the `error` column says what).
STATUS_TOO_SMALL = "too_small"
STATUS_ERROR = "error"

CONTENT_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string()),  # sample key; null for a rejected source
        pa.field("shard", pa.string()),  # shard file name holding the sample; null when rejected
        pa.field("source_path", pa.string(), nullable=False),  # relative to --src, '/' separated
        pa.field("source_md5", pa.string()),  # md5 of the file's bytes; null when it could not be read
        pa.field("source_width", pa.int32()),  # decoded size; null when it did not decode
        pa.field("source_height", pa.int32()),
        pa.field("width", pa.int32()),  # the stored image; null when rejected
        pa.field("height", pa.int32()),
        pa.field("scale", pa.float64()),  # stored shorter side / source shorter side; > 1 means upscaled
        pa.field("status", pa.string(), nullable=False),  # "ok" or the rejection reason
        pa.field("error", pa.string()),  # detail for a rejection
    ]
)

CONTENT_SAMPLE: dict[str, str] = {
    "source_path": "str",  # relative to --src, '/' separated
    "source_md5": "str",  # md5 of the source file's bytes
    "source_size": "list[int]",  # [width, height] of the decoded source (EXIF orientation applied)
    "width": "int",  # of the stored image
    "height": "int",
    "scale": "float",  # stored shorter side / source shorter side (> 1: upscaled, at most 2)
}
