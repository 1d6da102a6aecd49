"""The settings read each environment variable by its one flat name, grouped fields included, and the names
deployments already set keep working."""

from __future__ import annotations

import pytest

from motivnet_serve.settings import ENV_PREFIX, Settings, all_settings, env_values

pytestmark = pytest.mark.timeout(30)


def test_grouped_settings_read_their_flat_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIVNET_DETECTOR", "none")
    monkeypatch.setenv("MOTIVNET_DETECTOR_SCORE_THRESHOLD", "0.5")
    monkeypatch.setenv("MOTIVNET_MAX_UPLOAD_BYTES", "1024")
    monkeypatch.setenv("MOTIVNET_DRAIN_TIMEOUT_S", "3")
    monkeypatch.setenv("motivnet_compile", "false")
    settings = Settings()
    assert settings.detector.name == "none"
    assert settings.detector.score_threshold == 0.5
    assert settings.limits.max_upload_bytes == 1024
    assert settings.connections.drain_timeout_s == 3.0
    assert settings.compile.enabled is False


def test_arguments_win_over_the_environment_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIVNET_DETECTOR_MAX_FACES", "4")
    settings = Settings.from_flat(detector="retinaface-mobilenet")
    assert (settings.detector.name, settings.detector.max_faces) == ("retinaface-mobilenet", 4)


def test_every_environment_name_is_one_setting() -> None:
    names = [setting.env for setting in all_settings()]
    assert len(names) == len(set(names))
    assert all(name.startswith(ENV_PREFIX) and name == name.upper() for name in names)


def test_unknown_names_are_refused_by_from_flat_and_ignored_in_the_environment() -> None:
    with pytest.raises(TypeError, match="MOTIVNET_MAX_UPLOAD_BYTE"):
        Settings.from_flat(max_upload_byte=1)
    assert env_values({"MOTIVNET_NOT_A_SETTING": "1", "OTHER": "2"}) == {}


def test_a_group_keeps_its_checks() -> None:
    with pytest.raises(ValueError, match="max_request_pixels"):
        Settings.from_flat(max_request_pixels=10, max_pixels_in_flight=5)
