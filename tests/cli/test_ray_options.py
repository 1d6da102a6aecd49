"""`analyze --ray`'s options: parsed into the job's `RayOptions`, a bad width refused as a usage mistake, and
ray left unimported by everything but the cluster runner (the server's image has no ray)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motivnet_serve.cli.main import build_parser
from motivnet_serve.cli.ray_options import ray_options
from motivnet_serve.pipelines.collection.stages import RayOptions
from tests.conftest import ROOT


def parsed(*extra: str):
    return build_parser().parse_args(["analyze", "photos/", "--out", "out/", *extra])


def test_without_ray_the_job_runs_here():
    assert ray_options(parsed()) is None


def test_ray_alone_leaves_the_address_to_ray_and_takes_the_widths():
    assert ray_options(parsed("--ray", "--actors", "4", "--gpus-per-actor", "0.5")) == RayOptions(None, 4, 0.5, 1.0)


def test_ray_with_an_address():
    assert ray_options(parsed("--ray", "10.0.0.2:6379")).address == "10.0.0.2:6379"


@pytest.mark.parametrize("wrong", [("--actors", "0"), ("--gpus-per-actor", "-1"), ("--cpus-per-actor", "-0.5")])
def test_a_width_below_zero_is_a_usage_mistake(wrong):
    with pytest.raises(ValueError, match="--actors must be at least 1"):
        ray_options(parsed("--ray", *wrong))


def test_nothing_but_the_cluster_runner_imports_ray():
    modules = (
        "motivnet_serve.cli.main",
        "motivnet_serve.router.app",
        "motivnet_serve.cli.collection",
        "motivnet_serve.pipelines.collection.stages",
    )
    imports = "; ".join(f"import {module}" for module in modules)
    check = f"import sys; {imports}; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
