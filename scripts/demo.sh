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
prep show data/lineart --out data/lineart-sheet.png
prep report data --out data/report.html
echo "demo: done: data/faces, data/lineart, runs/dcgan, runs/pix2pix;" \
  "pictures: runs/dcgan-samples.png, data/lineart-sheet.png, data/report.html"
