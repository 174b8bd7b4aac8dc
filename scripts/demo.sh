#!/usr/bin/env bash
# Set up, then run the whole chain (crawl -> tags -> faces -> canny -> a short DCGAN run)
# against the bundled local sample site, with params-sample.yaml over params.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
# The face detector's cascade: use a local copy when there is one, else prep downloads it.
if [ -z "${ANIMEFACE_CASCADE:-}" ] && [ -f ../shared/models/lbpcascade_animeface.xml ]; then
  export ANIMEFACE_CASCADE="$(cd ../shared/models && pwd)/lbpcascade_animeface.xml"
fi
PORT=8000   # params-sample.yaml points the crawl at http://127.0.0.1:8000
prep sample-site --port "$PORT" --posts 300 >/dev/null 2>&1 &
SITE=$!
trap 'kill $SITE 2>/dev/null; wait $SITE 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
  sleep 0.2
done
prep repro --params params-sample.yaml
# Pictures go beside the stage outputs, never inside them: a changed output would make the next
# `prep repro` rerun its stage.
train sample --ckpt runs/dcgan --n 64 --out runs/dcgan-samples.png
# A colorized line-art sample: the largest face of a post the colorizer held out for validation,
# cut from the crawled image at its own resolution; `train colorize` turns it into Canny line art,
# colours it with the post's tags, and returns it at that size with the drawing's own lines.
python - <<'PY'
import json
import cv2
import pyarrow.parquet as pq
from core.shards import iter_samples, shard_paths
from train.validation import split_by_post
tags = {json.loads(f["json"])["post_id"]: json.loads(f["json"])["tags"]
        for shard in shard_paths("data/lineart") for _, f in iter_samples(shard, {"json"})}
rows = [r for r in pq.read_table("data/faces/faces.parquet").to_pylist() if r["status"] == "ok"]
posts = sorted(tags)
_, val = split_by_post(posts, 0.05, 0)  # pix2pix's defaults: --val-fraction 0.05 --seed 0
held = {posts[i] for i in val}
r = max((r for r in rows if r["post_id"] in held), key=lambda r: r["crop_size"])
img = cv2.imread(f"data/raw/{r['source_path']}")
x, y, s = r["crop_x"], r["crop_y"], r["crop_size"]
cv2.imwrite("runs/drawing.png", img[y : y + s, x : x + s])
open("runs/drawing-tags.txt", "w").write(" ".join(tags[r["post_id"]]))
PY
train colorize --ckpt runs/pix2pix --line runs/drawing.png --tags "$(cat runs/drawing-tags.txt)" \
  --out runs/colorized.png
prep show data/lineart --out data/lineart-sheet.png
prep report data --out data/report.html
echo "demo: done: data/faces, data/lineart, runs/dcgan, runs/pix2pix;" \
  "pictures: runs/dcgan-samples.png, runs/colorized.png (from runs/drawing.png), data/lineart-sheet.png, data/report.html"
