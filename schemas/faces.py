"""Face shards (`prep faces`): the manifest `faces.parquet` and each sample's `<key>.json`.

A sample holds `<key>.png` (the square RGB face crop, `size` x `size`) and `<key>.json`
(FACE_SAMPLE). Keys are `p<post_id:010d>_f<face_index:02d>`. The manifest has one row per face
kept (status "ok") and one row per source that gave no face, with the reason as its status.
"""

from __future__ import annotations

import pyarrow as pa

STATUS_OK = "ok"
# Source-level statuses besides "ok": the core.images.ImageRejected reasons (empty, missing,
# truncated, not_image, undecodable, too_large), `no_face` (the cascade found nothing),
# `faces_too_small` (every face found was under --min-face; the detector only looks a couple of
# pyramid steps below --min-face, so much smaller faces count as `no_face`) and `error` (an unexpected failure;
# the `error` column says what).
STATUS_NO_FACE = "no_face"
STATUS_FACES_TOO_SMALL = "faces_too_small"
STATUS_ERROR = "error"

FACES_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string()),  # sample key; null for a rejected source
        pa.field("shard", pa.string()),  # shard file name holding the sample; null when rejected
        pa.field("post_id", pa.int64(), nullable=False),
        pa.field("face_index", pa.int32()),  # 0.. in the order of the sorted boxes; null when rejected
        pa.field("x", pa.int32()),  # detected box, source pixels
        pa.field("y", pa.int32()),
        pa.field("w", pa.int32()),
        pa.field("h", pa.int32()),
        pa.field("crop_x", pa.int32()),  # square actually cropped (margin added, kept inside the image)
        pa.field("crop_y", pa.int32()),
        pa.field("crop_size", pa.int32()),
        pa.field("source_width", pa.int32()),  # null when the source could not be decoded
        pa.field("source_height", pa.int32()),
        pa.field("source_path", pa.string()),  # relative to --src
        pa.field("source_md5", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # "ok" or the source's rejection reason
        pa.field("error", pa.string()),  # detail for a rejection
    ]
)

FACE_SAMPLE: dict[str, str] = {
    "post_id": "int",
    "face_index": "int",
    "box": "list[int]",  # [x, y, w, h] detected, source pixels
    "crop_box": "list[int]",  # [x, y, w, h] square cropped, source pixels (w == h)
    "source_size": "list[int]",  # [width, height] of the decoded source
    "tags": "list[str]",
    "rating": "str?",
    "source_md5": "str?",  # md5 of the file the crawl stored
    "size": "int",  # side of the PNG crop in pixels
}
