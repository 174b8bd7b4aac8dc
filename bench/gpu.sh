#!/usr/bin/env bash
# Every GPU figure the benchmarks ask for, in one run of under 8 minutes, into one results file:
#   - DCGAN img/s at 96 px, batch 256, bf16 (6,000 synthetic faces), with the data-wait share
#     (`train dcgan`, memory and stream data paths) vs the pytorch/examples-style fp32 loop
#     (bench/bench_dcgan.py);
#   - pix2pix: `train pix2pix` vs the classic loop at the same batch, 96 and 256 px (bench/bench_pix2pix.py);
#   - the style trainers, bench/bench_style.py --gpu and bench/bench_fast_style.py --gpu, when present.
#
#   bash bench/gpu.sh [RESULTS_FILE]        (default: gpu-results.md)
#
# Without an NVIDIA GPU visible to torch it says so and exits 0 without measuring anything.
# Each benchmark gets a share of the 8-minute budget (`timeout`); one that fails or runs out of
# time is recorded as such in the results file and the others still run (exit status 1 then).
set -uo pipefail
OUT=$(realpath -m "${1:-gpu-results.md}")
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
BUDGET=${GPU_BENCH_BUDGET_S:-470}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu.sh: no NVIDIA GPU here (nvidia-smi finds none): skipped, nothing measured"
  exit 0
fi
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu.sh: torch in $PY cannot use the GPU (torch.cuda.is_available() is False; a CPU build?): skipped"
  exit 0
fi

START=$(date +%s)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
{
  echo "# GPU benchmarks ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
  echo "- CPU cores: $(nproc); torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$TMP/results.md"

# run NAME SECONDS CMD...: run one benchmark within its share of the budget, append its output
run() {
  local name=$1 share=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - START)))
  [ "$share" -gt "$left" ] && share=$left
  if [ "$share" -lt 20 ]; then
    printf '\n## %s\n\nnot run: the 8-minute budget was used up\n' "$name" >>"$TMP/results.md"
    FAILED=1
    return
  fi
  echo "gpu.sh: $name (at most ${share}s): $*"
  local t0 rc=0
  t0=$(date +%s)
  timeout --signal=INT --kill-after=15 "$share" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  {
    printf '\n## %s\n\ncommand: `%s` (%ss, exit %s)\n\n' "$name" "$*" "$(($(date +%s) - t0))" "$rc"
    # the Markdown tables and the machine line, as the script printed them
    grep -E '^(\||Machine|machine|# bench|CPU time|speed-up)' "$TMP/$name.out" || true
    if [ "$rc" -ne 0 ]; then
      echo
      [ "$rc" -eq 124 ] && echo "**ran out of its ${share}s share**" || echo "**failed** (last lines of stderr):"
      echo '```'
      tail -n 5 "$TMP/$name.err"
      echo '```'
    fi
  } >>"$TMP/results.md"
  [ "$rc" -ne 0 ] && FAILED=1
  return 0
}

run dcgan 240 "$PY" bench/bench_dcgan.py --device cuda --sizes 96 --batch 256 --faces 6000 --steps 300 \
  --workers 8 --json "$TMP/dcgan.json"
run pix2pix 150 "$PY" bench/bench_pix2pix.py --device cuda --sizes 96 256 --batch 64 --steps 20 \
  --workers 8 --json "$TMP/pix2pix.json"
for style in bench_style bench_fast_style; do
  if [ -f "bench/$style.py" ]; then
    run "$style" 40 "$PY" "bench/$style.py" --gpu
  else
    printf '\n## %s\n\nnot run: bench/%s.py does not exist yet\n' "$style" "$style" >>"$TMP/results.md"
  fi
done

for j in "$TMP"/*.json; do
  [ -f "$j" ] || continue
  printf '\n<details><summary>%s</summary>\n\n```json\n%s\n```\n</details>\n' "$(basename "$j")" "$(cat "$j")" \
    >>"$TMP/results.md"
done
mv "$TMP/results.md" "$OUT"
echo "gpu.sh: done in $(($(date +%s) - START))s: $OUT"
exit "$FAILED"
