#!/usr/bin/env bash
# Run HERE (with PyPI), before `bash bench/gpu.sh` on the GPU machine (no network there): downloads into .whl/
# the service's wheels that the GPU image (Python 3.12, torch, numpy, scipy, matplotlib, pyarrow preinstalled)
# lacks or has too old (its Pillow has no AVIF plugin), without their dependencies, so the folder stays under the device's 64 MiB carry limit. Carry .whl.
set -euo pipefail
PY="${PYTHON:-python3}"
MISSING=(
  fastapi starlette opentelemetry-api annotated-doc 'pydantic>=2.7' pydantic-core annotated-types typing-inspection
  typing-extensions 'pydantic-settings>=2.3' python-dotenv 'python-multipart>=0.0.9' 'uvicorn>=0.30' websockets
  'av>=14.0' trackers==2.1.0 'supervision>=0.31.2' pydeprecate defusedxml 'pillow>=11.3' 'pillow-heif>=1.8.1,<2'
)
rm -rf .whl && mkdir -p .whl
# Resolved together first (so the versions fit each other), then only the missing ones are kept.
"$PY" -m pip download -q --dest .whl --only-binary=:all: --implementation cp --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  "${MISSING[@]}"
keep=$(printf '%s\n' "${MISSING[@]}" | sed -E 's/[<>=].*//; s/-/_/g' | tr 'A-Z' 'a-z')
for wheel in .whl/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z')
  grep -qx "$name" <<<"$keep" || rm "$wheel"
done
du -sh .whl && ls .whl
