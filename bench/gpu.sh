#!/usr/bin/env bash
# On a CUDA machine, from the repository root: the full-size MotivNet-1B report (random weights), about 10 minutes.
# Wheels the image lacks may be carried in .whl/ (see docs/performance.md); results go to $OUT (default bench-out)
# and the run's JSON to docs/gpu-runs/. `--smoke`: the same sections on the CPU with the tiny model (a test).
set -euo pipefail
OUT="${OUT:-bench-out}"
mkdir -p "$OUT"
if [[ " $* " != *" --smoke "* ]] && compgen -G ".whl/*.whl" > /dev/null; then  # the GPU image's wheels
  "${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
PYTHONUNBUFFERED=1 "${PYTHON:-python3}" -m bench.gpu --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu.log"
