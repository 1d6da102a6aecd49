"""`analyze` on a real collection in this process: the same numbers as the HTTP API for the same files, the
tables consistent with each other, and a rerun that skips what is done and redoes what changed."""

from __future__ import annotations

import os

import httpx
import pytest

from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.pipelines.collection.run import analyze
from motivnet_serve.pipelines.collection.schema import EMOTIONS, LANDMARKS
from tests.photos import photo_paths
from tests.pipelines.collection.conftest import mini_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOLERANCE = 1e-4
"""Batches of other sizes round differently in the last bits; the answers are otherwise the same."""


def by_source(table) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        rows.setdefault(row["source"], []).append(row)
    return rows


def assert_same_face(row: dict, face: dict) -> None:
    assert row["label"] == face["label"]
    for name in EMOTIONS:
        assert abs(row[name] - face["probabilities"][name.capitalize()]) < TOLERANCE
    assert [row["x1"], row["y1"], row["x2"], row["y2"]] == face["box"]
    assert row["score"] == face["score"]
    assert {name: [row[f"{name}_x"], row[f"{name}_y"]] for name in LANDMARKS} == face["landmarks"]


@pytest.mark.server
def test_the_tables_hold_what_predict_and_v1_video_answer(analyzed, server):
    faces = by_source(analyzed.output.read("faces"))
    tracks = by_source(analyzed.output.read("tracks"))
    sources = analyzed.output.read("sources").to_pylist()
    assert {row["kind"] for row in sources} == {"photo", "video"}
    for source in sources:
        path = source["source"]
        rows = sorted(faces.get(path, []), key=lambda row: (row["frame"], row["face"]))
        if source["kind"] == "photo":
            with open(path, "rb") as handle:
                answer = httpx.post(f"{server.url}/predict", files={"file": handle}, timeout=120).json()
            http_faces = answer["results"][0]["faces"]
            assert len(rows) == len(http_faces) == source["faces"]
            for row, face in zip(rows, http_faces):
                assert_same_face(row, face)
            continue
        with open(path, "rb") as handle:
            headers = {"accept": "application/json"}
            document = httpx.post(f"{server.url}/v1/video?fps=5", files={"file": handle}, headers=headers, timeout=300)
        document = document.json()
        http_faces = [(line["frame"], line["time_ms"], face) for line in document["frames"] for face in line["faces"]]
        assert len(rows) == len(http_faces) == source["faces"]
        assert source["frames"] == document["summary"]["frames"]
        for row, (frame, time_ms, face) in zip(rows, http_faces):
            assert (row["frame"], row["time_ms"], row["track_id"]) == (frame, time_ms, face["track_id"])
            assert_same_face(row, face)
        summary_tracks = document["summary"]["tracks"]
        assert [row["track_id"] for row in tracks[path]] == [track["track_id"] for track in summary_tracks]
        for row, track in zip(tracks[path], summary_tracks):
            assert (row["frames"], row["first_ms"], row["last_ms"]) == (
                track["frames"],
                track["first_ms"],
                track["last_ms"],
            )
            assert all(abs(row[name] - track["probabilities"][name.capitalize()]) < TOLERANCE for name in EMOTIONS)


def test_every_source_has_one_row_and_its_counts_match_its_faces(analyzed):
    sources = analyzed.output.read("sources").to_pylist()
    faces = analyzed.output.read("faces").to_pylist()
    assert len({row["source"] for row in sources}) == len(sources) == 7
    assert all(row["status"] == "ok" and row["model"] == "mini-xception-fer2013" for row in sources)
    assert all(len(row["sha256"]) == 64 and row["seconds"] > 0 for row in sources)
    for row in sources:
        assert row["faces"] == sum(face["source"] == row["source"] for face in faces)
    keys = [(face["source"], face["frame"], face["face"]) for face in faces]
    assert len(keys) == len(set(keys))
    assert analyzed.result.summary.ok == 7
    assert analyzed.result.summary.faces == len(faces)


def test_a_rerun_skips_what_is_done_and_redoes_a_changed_file(tmp_path, bundled_weights):  # noqa: ARG001
    photos = photo_paths()
    for name in ("single_face.jpg", "astronaut.png"):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(photos[name].read_bytes())
    out = tmp_path / "out"
    first = analyze([str(tmp_path / "in")], out, settings=mini_settings())
    assert (first.summary.ok, first.summary.skipped) == (2, 0)
    again = analyze([str(tmp_path / "in")], out, settings=mini_settings())
    assert (again.summary.ok, again.summary.skipped) == (0, 2)
    changed = tmp_path / "in" / "astronaut.png"
    changed.write_bytes(photos["single_face.jpg"].read_bytes())  # new content, size and time
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = analyze([str(tmp_path / "in")], out, settings=mini_settings())
    assert (third.summary.ok, third.summary.skipped) == (1, 1)
    output = Output(out)
    rows = output.read("sources").to_pylist()
    assert sorted(row["source"] for row in rows) == sorted(str(path) for path in (tmp_path / "in").iterdir())
    faces = by_source(output.read("faces"))
    unchanged = str(tmp_path / "in" / "single_face.jpg")
    assert [row["happiness"] for row in faces[str(changed)]] == [row["happiness"] for row in faces[unchanged]]
