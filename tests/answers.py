"""What every video answer must be, checked the same way whichever path gave it (`/v1/video`, the CLI, or the
frames sent one by one over `WS /v1/stream`)."""

from __future__ import annotations

import numpy as np

from motivnet_serve.pipelines.sampling import Sampler
from tests.corpus import SAMPLE_FPS, Event
from tests.footage import PERSON_SIZE

SAMPLE_MS = 1000 / SAMPLE_FPS


def summary_matches(frames: list[dict], tracks: list[dict]) -> None:
    """Each track's span, frame count and mean answer are what the frame lines say."""
    for track in tracks:
        seen = [
            (line["time_ms"], face)
            for line in frames
            for face in line["faces"]
            if face["track_id"] == track["track_id"]
        ]
        assert track["frames"] == len(seen)
        assert (track["first_ms"], track["last_ms"]) == (seen[0][0], seen[-1][0])
        labels = list(track["probabilities"])
        mean = np.mean([[face["probabilities"][label] for label in labels] for _, face in seen], axis=0)
        assert np.allclose([track["probabilities"][label] for label in labels], mean, atol=1e-9)
        assert track["label"] == labels[int(np.argmax(mean))]
    assert sum(track["frames"] for track in tracks) == sum(len(line["faces"]) for line in frames)


def sampled(event: Event) -> list[int]:
    """The frames a 5-per-second analysis keeps, by timestamp."""
    sampler = Sampler(SAMPLE_FPS)
    return [index for index in range(len(event.shots)) if sampler.take(event.time_of(index))]


def frames_match(event: Event, frames: list[dict]) -> None:
    """One line per sampled frame, in time order, each with as many faces as the frame holds, inside it."""
    assert [line["frame"] for line in frames] == sampled(event), event.name
    assert [line["time_ms"] for line in frames] == [round(event.time_of(line["frame"]) * 1000, 1) for line in frames]
    width, height = event.size
    for line in frames:
        low, high = event.shots[line["frame"]].faces
        assert low <= len(line["faces"]) <= high, (event.name, line["frame"], len(line["faces"]))
        for face in line["faces"]:
            x1, y1, x2, y2 = face["box"]
            assert (x2 > 0, y2 > 0, x1 < width, y1 < height) == (True,) * 4, (event.name, face["box"])


def tracks_follow_people(event: Event, frames: list[dict]) -> None:
    """Each person's tracks begin after they enter and end before they leave, within one sample interval of
    when they are wholly in view; a face belongs to the person whose face is nearest on that frame."""
    spans: dict[str, list[float]] = {}
    for line in frames:
        people = event.shots[line["frame"]].people
        for face in line["faces"]:
            if people:
                centre = (face["box"][0] + face["box"][2]) / 2
                owner = min(people, key=lambda person: abs(person.x + PERSON_SIZE[0] / 2 - centre))
                spans.setdefault(owner.name, []).append(line["time_ms"])
    for name, times in spans.items():
        present = [line["time_ms"] for line in frames if _there(event, line["frame"], name, whole=False)]
        whole = [line["time_ms"] for line in frames if _there(event, line["frame"], name, whole=True)]
        assert present[0] <= times[0], (event.name, name, "a track began before its face entered")
        assert times[-1] <= present[-1], (event.name, name, "a track ended after its face left")
        if whole:
            assert times[0] <= whole[0] + SAMPLE_MS, (event.name, name, "the face was found late")
            assert times[-1] >= whole[-1] - SAMPLE_MS, (event.name, name, "the face was lost early")


def _there(event: Event, index: int, name: str, whole: bool) -> bool:
    shot = event.shots[index]
    people = [person for person in shot.people if person.name == name]
    if whole:
        return shot.faces[0] > 0 and any(person.visible(event.size) for person in people)
    return any(not person.gone(event.size) for person in people)


def answer_is_right(event: Event, lines: list[dict]) -> None:
    """The whole stated answer: frame lines, then the summary that matches them, with the tracks expected."""
    *frames, last = lines
    summary = last["summary"]
    frames_match(event, frames)
    assert (summary["frames"], summary["errors"]) == (len(frames), 0)
    summary_matches(frames, summary["tracks"])
    low, high = event.tracks
    assert low <= len(summary["tracks"]) <= high, (event.name, [t["track_id"] for t in summary["tracks"]])
    tracks_follow_people(event, frames)
