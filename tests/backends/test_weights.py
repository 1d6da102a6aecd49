"""fetch-weights leaves files that any user may read: the image's non-root uid serves what root fetched."""

from __future__ import annotations

import os
import stat

import pytest

from motivnet_serve.backends.weights import READABLE, REQUIRED, fetch_weights


def _modes(results) -> dict[str, int]:
    return {result.name: stat.S_IMODE(result.path.stat().st_mode) for result in results}


@pytest.mark.slow  # unpacks the bundled weights (~4 s)
def test_weights_are_readable_by_every_user_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        fetched = fetch_weights(tmp_path, names=REQUIRED, progress=lambda _line: None)
    finally:
        os.umask(previous)
    assert [result.status for result in fetched] == ["fetched", "fetched"], fetched
    assert _modes(fetched) == dict.fromkeys(REQUIRED, READABLE)


def test_a_present_file_that_only_its_owner_may_read_is_opened_up(tmp_path):
    (first,) = fetch_weights(tmp_path, names=("mini-xception",), progress=lambda _line: None)
    first.path.chmod(0o600)
    (again,) = fetch_weights(tmp_path, names=("mini-xception",), progress=lambda _line: None)
    assert again.status == "present"
    assert _modes([again]) == {"mini-xception": READABLE}
