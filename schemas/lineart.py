"""Line-art shards (`prep canny`): the manifest `lineart.parquet` and each sample's `<key>.json`.

A sample holds `<key>.color.png` (RGB), `<key>.line.png` (one channel: the inverted Canny edges
of the colour image), `<key>.tags.npy` (uint8 multi-hot vector over the vocabulary whose hash is
`vocab_hash`) and `<key>.json` (LINEART_SAMPLE).
"""

from __future__ import annotations

import pyarrow as pa

STATUS_OK = "ok"
# Other statuses are rejection reasons: those of core.images.ImageRejected (empty, missing,
# truncated, not_image, undecodable, too_large) and, for face shards, no_image, no_json, bad_json, bad_shard.

SAMPLE_FIELDS: tuple[str, ...] = ("color.png", "line.png", "tags.npy", "json")

LINEART_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # sample key (face key, or p<post_id:010d> for raw)
        pa.field("shard", pa.string()),  # output shard file name; null when rejected
        pa.field("post_id", pa.int64()),  # null only when a whole input shard was unreadable
        pa.field("face_index", pa.int32()),  # null for raw sources
        pa.field("source", pa.string(), nullable=False),  # input shard name, or raw path relative to --src
        pa.field("status", pa.string(), nullable=False),  # "ok" or a rejection reason
        pa.field("error", pa.string()),  # detail for a rejection
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("n_tags", pa.int32()),  # tags of the sample that are in the vocabulary
        pa.field("edge_fraction", pa.float64()),  # share of pixels that are lines
    ]
)

LINEART_SAMPLE: dict[str, str] = {
    "post_id": "int",
    "face_index": "int?",  # null for raw sources
    "source": "str",  # "faces" or "raw"
    "source_md5": "str?",  # md5 of the original file downloaded by the crawl
    "crop_box": "list[int]?",  # (x, y, w, h) in the original image's pixels
    "tags": "list[str]",  # all the post's tags (the vector keeps only the vocabulary's)
    "rating": "str?",
    "width": "int",
    "height": "int",
    "low": "int",  # Canny thresholds
    "high": "int",
    "invert": "bool",  # true: black lines on white
    "vocab_hash": "str",
}
