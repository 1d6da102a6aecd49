"""Every `python -m bench` command still parses its options: the benchmarks import the package's settings and
modules, which mypy does not check in bench/, so a renamed setting would otherwise surface only when someone
measures (or in `bench/gpu.sh --smoke`, minutes into the slow suite)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

COMMANDS = ("raw", "serve", "compare", "peer", "revisions", "threads", "tracing", "video", "stream", "analyze")

# One process for all of them: the imports (torch) are paid once. Each `--help` ends in SystemExit(0).
CHECK = """
import runpy, sys
failed = []
for command in sys.argv[1:]:
    sys.argv = ["bench", command, "--help"]
    try:
        runpy.run_module("bench", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(command)
print("FAILED", " ".join(failed))
"""


def test_every_bench_command_parses_its_options():
    done = subprocess.run(
        [sys.executable, "-c", CHECK, *COMMANDS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "FAILED", done.stdout[-2000:]
