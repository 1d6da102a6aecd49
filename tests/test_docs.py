"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing anchor or a page left
out of the nav fails the suite, not a reader. The tests of the test show the build does catch each of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUILD_SECONDS = 120


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the project folder (its mkdocs.yml and docs/) into `site`."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(project / "mkdocs.yml")]
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [*command, "--site-dir", str(site)], capture_output=True, text=True, timeout=BUILD_SECONDS, env=environment
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml and docs/, to break on purpose."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    return copy


def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    for page in ("api", "video-and-streams", "configuration", "models", "deploy", "architecture", "development"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    assert (tmp_path / "site" / "performance" / "index.html").is_file()


@pytest.mark.parametrize(
    ("page", "text", "complaint"),
    [
        ("api.md", "\nSee [the missing page](nowhere.md).\n", "nowhere.md"),
        ("api.md", "\nSee [a missing section](deploy.md#no-such-section).\n", "no-such-section"),
        ("orphan.md", "# Not in the nav\n", "orphan.md"),
    ],
)
def test_a_broken_link_or_a_page_outside_the_nav_fails_the_build(
    project: Path, tmp_path: Path, page: str, text: str, complaint: str
) -> None:
    with (project / "docs" / page).open("a") as file:
        file.write(text)
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert complaint in result.stderr


def test_every_link_in_the_readme_reaches_a_file() -> None:
    """The README is outside the site, so the build does not check its links: this does."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert len(local) >= 8, "the README's links to the docs moved; update this test"
    missing = [target for target in local if not (ROOT / target).is_file()]
    assert not missing, f"README links to missing files: {missing}"
