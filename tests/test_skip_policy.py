"""The skip rule itself: a CUDA test may skip, anything else that skips fails the run."""

from __future__ import annotations

import pytest

from tests import skip_policy

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.mark.gpu
def test_needs_cuda():
    pytest.skip("needs a CUDA device")

def test_missing_tool():
    pytest.skip("hadolint not installed")

@pytest.fixture
def tool():
    pytest.skip("no docker")

def test_missing_fixture(tool):
    pass

@pytest.mark.xfail(reason="known")
def test_known_failure():
    assert False

def test_passes():
    pass
"""


def test_only_gpu_tests_may_skip(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    gpu: needs CUDA\n")
    pytester.makepyfile(test_suite=SUITE, test_module="import pytest\n\npytest.importorskip('no_such_package')\n")
    result = pytester.runpytest(plugins=[skip_policy])
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=2, xfailed=1)
    result.stdout.fnmatch_lines(["*only tests marked gpu may skip*hadolint not installed*"])
    result.stdout.fnmatch_lines(["*module skipped, but only tests marked gpu may skip*no_such_package*"])
