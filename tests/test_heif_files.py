"""The test-file makers leave the test process as they found it: SVT-AV1 (the 10-bit AVIF encoder) switches its
caller to real-time scheduling when run as root, which once made every later container start fail in the
suite (runc cannot join a cgroup without a real-time budget)."""

from __future__ import annotations

import os

import numpy as np

from tests.heif_files import avif_10bit


def test_a_10_bit_avif_is_made_without_changing_the_process_scheduling():
    before = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    data = avif_10bit(np.zeros((64, 64, 3), dtype=np.uint16))
    assert data[4:12] == b"ftypavif"
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
