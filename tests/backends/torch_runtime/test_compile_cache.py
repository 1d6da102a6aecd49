"""The compile cache: keyed by model, device, torch, dtype, mode and FP8; another key's file is never loaded;
a second process with the cache compiles nothing (torch.compile on the CPU, a small real model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import pytest
import torch

from motivnet_serve.backends.torch_runtime.compile_cache import CompileCache, CompileKey, device_identity
from tests.conftest import ROOT

KEY = CompileKey.of("ab" * 32, torch.device("cpu"), "float32", "default", False)


@pytest.mark.parametrize("field", [f.name for f in fields(CompileKey)])
def test_every_part_of_the_key_changes_its_file(field: str):
    other = replace(KEY, **{field: (not getattr(KEY, field)) if field == "fp8" else getattr(KEY, field) + "x"})
    assert other.digest() != KEY.digest()
    assert CompileCache(Path("/c"), other).path != CompileCache(Path("/c"), KEY).path


def test_the_device_names_what_kernels_depend_on():
    assert device_identity(torch.device("cpu")) == f"cpu {torch.backends.cpu.get_cpu_capability()}"
    assert KEY.torch == torch.__version__


def test_a_cache_for_another_key_is_never_opened(tmp_path: Path):
    other = replace(KEY, checkpoint_sha256="cd" * 32)
    foreign = CompileCache(tmp_path, other)
    foreign.path.write_bytes(b"not torch's artefacts")
    foreign.key_path.write_text(json.dumps(asdict(other)))
    assert CompileCache(tmp_path, KEY).load() == "absent"
    assert foreign.load() == "unreadable", "the same bytes fail when loaded, so 'absent' above means unread"


def test_a_file_whose_stored_key_disagrees_is_ignored(tmp_path: Path):
    cache = CompileCache(tmp_path, KEY)
    cache.path.write_bytes(b"would be unreadable if it were loaded")
    cache.key_path.write_text(json.dumps(asdict(replace(KEY, torch="1.0"))))
    assert cache.load() == "stale"


COMPILE_TWICE = """
import json, sys, torch
from pathlib import Path
from torch._dynamo.utils import counters
from motivnet_serve.backends.torch_runtime.compile_cache import CompileCache, CompileKey
from motivnet_serve.backends.torch_runtime.compiled import CompiledModel
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 7)).eval()
key = CompileKey.of("ab" * 32, torch.device("cpu"), "float32", "default", False)
compiled = CompiledModel(model, "default", CompileCache(Path(sys.argv[1]), key))
with torch.inference_mode():
    same = torch.allclose(compiled(torch.ones(3, 16)), model(torch.ones(3, 16)), atol=1e-5)
compiled.warmed_up()
unwritable = CompileCache(Path(sys.argv[1]) / "a-file" / "below", key).save()
print(json.dumps({"outcome": compiled.cache_outcome, "same": same, "failed": compiled.failed,
                  "unwritable_saved": unwritable, **counters["inductor"]}))
"""


def compile_in_a_fresh_process(cache: Path, inductor_dir: Path) -> dict:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(inductor_dir), PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", COMPILE_TWICE, str(cache)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.compile
@pytest.mark.slow
def test_a_second_start_loads_the_cache_and_compiles_nothing(tmp_path: Path):
    cache = tmp_path / "compile"
    (cache / "a-file").parent.mkdir()
    (cache / "a-file").write_text("a file where a folder would go")
    first = compile_in_a_fresh_process(cache, tmp_path / "inductor-1")
    assert first["outcome"] == "absent"
    assert first["same"]
    assert not first["failed"]
    assert first.get("fxgraph_cache_miss", 0) >= 1
    assert first["unwritable_saved"] is False, "an unwritable cache folder is logged, never raised"
    assert CompileCache(cache, KEY).path.is_file()
    second = compile_in_a_fresh_process(cache, tmp_path / "inductor-2")
    assert second["outcome"] == "loaded"
    assert second["same"]
    assert second.get("fxgraph_cache_hit", 0) >= 1
    assert second.get("fxgraph_cache_miss", 0) == 0
