"""The settings reference and `motivnet.env.example` are generated from `Settings`, and go stale loudly.

The second test is the promise of the settings' single source: change one default in `settings.py`, run the
command, and nothing else needs an edit (the deployment files name only what differs from the defaults).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motivnet_serve.cli.settings_docs import TARGETS, stale_files
from motivnet_serve.settings import all_settings, groups
from tests.conftest import ROOT

COPIED = ("motivnet_serve", "pyproject.toml", *TARGETS)


def test_generated_files_match_the_settings():
    assert stale_files() == [], "run `make settings-docs` (python -m motivnet_serve settings-docs --write)"


def test_every_setting_is_documented_once_in_each_file():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / "motivnet.env.example").read_text()
    for setting in all_settings():
        variable = setting.env
        assert reference.count(f"| `{variable}` |") == 1, variable
        assert example.count(f"\n# {variable}=") == 1, variable


def test_each_group_has_its_section():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for group in groups():
        assert reference.count(f"\n### `{group}`\n") == 1, group


def settings_docs(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, run on a copy of the source tree (which it imports, and whose files it rewrites)."""
    command = [sys.executable, "-m", "motivnet_serve", "settings-docs", *args]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # three Python processes that import torch
def test_changing_a_default_is_one_edit_and_one_command(tmp_path: Path):
    for relative in COPIED:
        source = ROOT / relative
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    settings = tmp_path / "motivnet_serve" / "settings.py"
    old = 'max_batch_size: int = Field(8, ge=1, le=1024, description="Most faces in one forward pass.")'
    assert old in settings.read_text(), "the edited line moved; update this test"
    settings.write_text(settings.read_text().replace(old, old.replace("Field(8,", "Field(12,")))

    checked = settings_docs(tmp_path)
    assert checked.returncode == 1
    assert "stale: docs/configuration.md" in checked.stderr
    assert "stale: motivnet.env.example" in checked.stderr

    assert settings_docs(tmp_path, "--write").returncode == 0
    assert "| `MOTIVNET_MAX_BATCH_SIZE` | `12` |" in (tmp_path / "docs" / "configuration.md").read_text()
    assert "\n# MOTIVNET_MAX_BATCH_SIZE=12\n" in (tmp_path / "motivnet.env.example").read_text()
    assert settings_docs(tmp_path).returncode == 0
    for deployment in ("docker-compose.yml", "deploy/k8s/configmap.yaml"):
        assert "MOTIVNET_MAX_BATCH_SIZE" not in (ROOT / deployment).read_text(), f"{deployment} repeats a default"
