#!/usr/bin/env bash
# Run HERE (with PyPI), before `bash bench/gpu.sh` on the GPU machine (no network there): downloads into .whl/
# the service's wheels that the GPU image (Python 3.12, torch preinstalled) lacks. Carry .whl with the run.
set -euo pipefail
PY="${PYTHON:-python3}"
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --dest .whl --only-binary=:all: --implementation cp --python-version 3.12 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  fastapi 'uvicorn>=0.30' 'pydantic>=2.7' 'pydantic-settings>=2.3' 'python-multipart>=0.0.9'
du -sh .whl && ls .whl
