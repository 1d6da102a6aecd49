"""The cluster's stages as plain functions, without a cluster: what decoding hands on for each kind of source,
how the grouped pass gathers a source's rows in any order (each once) before tracking it, and how the tracking
turns a video that failed before its first frame into its `sources` row."""

from __future__ import annotations

import hashlib
import json
import pickle

from motivnet_serve.cli.collection import source_limits
from motivnet_serve.pipelines.collection.parts import SourceRows
from motivnet_serve.pipelines.collection.sources import list_sources
from motivnet_serve.pipelines.collection.stages import END, Gathered, decoded, tracked
from motivnet_serve.settings import Settings
from tests.clips import group_clip

LIMITS = source_limits(Settings())
MODEL = {"model": "mini-xception", "checkpoint_sha256": "0" * 64}
LABELS = ["Anger", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"]


def items(folder):
    return [{"uri": source.uri, "source": pickle.dumps(source)} for source in list_sources([str(folder)])]


def test_a_video_becomes_its_sampled_frames_in_order_then_its_end(tmp_path):
    clip = group_clip(seconds=1.0, size=(160, 96))
    (tmp_path / "clip.mp4").write_bytes(clip)
    (item,) = items(tmp_path)
    rows = list(decoded(item, limits=LIMITS, fps=5.0))
    frames, end = rows[:-1], rows[-1]
    assert [row["kind"] for row in frames] == ["frame"] * 5
    assert [row["time_ms"] for row in frames] == [0.0, 200.0, 400.0, 600.0, 800.0]
    assert all(len(row["pixels"]) == row["height"] * row["width"] * 3 == 96 * 160 * 3 for row in frames)
    assert (end["kind"], end["order"]) == ("end", END)
    answer = json.loads(end["answer"])
    assert answer["error"] is None
    assert answer["sha256"] == hashlib.sha256(clip).hexdigest()


def test_photos_go_whole_and_a_broken_video_ends_at_once_with_its_error(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"not really a photo")
    (tmp_path / "broken.mp4").write_bytes(group_clip(seconds=1.0)[:2000])
    broken, photo = (list(decoded(item, limits=LIMITS, fps=5.0)) for item in items(tmp_path))
    assert [(row["kind"], row["order"]) for row in photo] == [("whole", -1)]
    ((kind, answer),) = [(row["kind"], json.loads(row["answer"])) for row in broken]
    assert kind == "end"
    assert answer["error"][0] == "corrupt_video"


def test_a_video_that_fails_before_its_first_frame_is_one_failed_source(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(group_clip(seconds=1.0)[:2000])
    (item,) = items(tmp_path)
    (end,) = decoded(item, limits=LIMITS, fps=5.0)
    end["answer"] = json.dumps(json.loads(end["answer"]) | {"labels": LABELS, "model": MODEL, "min_score": 0.5})
    rows = tracked([end], fps=5.0)
    assert (rows.faces, rows.tracks) == ([], [])
    source = rows.source
    assert (source["status"], source["error_code"], source["frames"], source["faces"]) == (
        "failed",
        "corrupt_video",
        0,
        0,
    )
    assert source["model"] == MODEL["model"]


def test_the_grouped_pass_tracks_a_video_once_its_last_row_is_back_in_any_order_each_frame_once(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(group_clip(seconds=1.0, size=(160, 96)))
    (tmp_path / "photo.jpg").write_bytes(b"not really a photo")
    video, photo = (list(decoded(item, limits=LIMITS, fps=5.0)) for item in items(tmp_path))
    *frames, end = video
    end["answer"] = json.dumps(json.loads(end["answer"]) | {"labels": LABELS, "model": MODEL, "min_score": 0.5})
    for frame in frames:
        frame["answer"] = json.dumps({"faces": [], "seconds": 0.01})
    photo[0]["answer"] = json.dumps({"source": {"source": photo[0]["uri"]}, "faces": [], "tracks": []})
    gathered = Gathered(fps=5.0)
    arriving = [frames[3], end, frames[0], frames[3], frames[1], *photo, frames[4]]  # a frame sent twice
    assert [gathered.take(item) for item in arriving] == [None] * 5 + [
        SourceRows({"source": photo[0]["uri"]}, [], [])
    ] + [None]
    video_rows = gathered.take(frames[2])
    assert video_rows is not None
    assert (video_rows.source["status"], video_rows.source["frames"]) == ("ok", 5)
    assert video_rows.source["faces"] == 0
    late = [frames[0], end, *photo]  # rows of tasks Ray ran again after their sources were handed on
    assert [gathered.take(item) for item in late] == [None, None, None]
    assert gathered._rows == {}
