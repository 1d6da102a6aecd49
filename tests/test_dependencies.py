"""What the installed environment must not hold: a second OpenCV wheel. Two `cv2` packages in one venv
overwrite each other's files; the detector's extra brings opencv-contrib-python-headless, so nothing else may
bring another (newer `trackers` releases require opencv-python: that is why it is pinned to 2.1.0)."""

from __future__ import annotations

from importlib.metadata import distributions


def test_at_most_one_opencv_wheel_is_installed():
    names = sorted({dist.metadata["Name"].lower() for dist in distributions()})
    opencv = [name for name in names if name.startswith("opencv")]
    assert len(opencv) <= 1, f"more than one OpenCV wheel installed: {opencv}"
    assert "trackers" in names
    assert "av" in names
