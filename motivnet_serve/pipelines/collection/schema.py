"""The three tables `analyze` writes, as pyarrow schemas: the one place their columns are defined.

Every writer (the local job, and any other runner that reuses these pieces) builds its parts from these
schemas, so the tables of two runs concatenate and compare. Columns are flat (no lists or structs) so that CSV
and JSONL carry the same table as Parquet. `SCHEMA_VERSION` goes up whenever a column changes meaning, is
renamed or removed (adding a nullable column at the end does not); each part records it in its metadata, and
a run refuses to continue an output folder written under another version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1
TABLES = ("faces", "tracks", "sources")

EMOTIONS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
"""One probability column each, whatever order the model's labels come in (its labels, lowercased)."""
LANDMARKS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
"""As `/predict` names them: from the subject's side."""

_MODEL = [
    pa.field("model", pa.string(), nullable=False),
    pa.field("checkpoint_sha256", pa.string(), nullable=False),
]
_PROBABILITIES = [pa.field("label", pa.string(), nullable=False)] + [
    pa.field(name, pa.float64(), nullable=False) for name in EMOTIONS
]
_LANDMARK_COLUMNS = [pa.field(f"{name}_{axis}", pa.float64()) for name in LANDMARKS for axis in "xy"]

FACES = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("time_ms", pa.float64()),
        pa.field("face", pa.int32(), nullable=False),
        pa.field("track_id", pa.int64()),
        pa.field("x1", pa.float64()),
        pa.field("y1", pa.float64()),
        pa.field("x2", pa.float64()),
        pa.field("y2", pa.float64()),
        pa.field("score", pa.float64()),
        *_LANDMARK_COLUMNS,
        *_PROBABILITIES,
        *_MODEL,
    ]
)
"""One row per face: `frame` is 0 for a photo and the index among all decoded frames for a video; `face` is
its rank in the frame (best detector score first); box, score and landmarks are null for a whole image
(`--no-detect`); `track_id` and `time_ms` are null for photos."""

TRACKS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("track_id", pa.int64(), nullable=False),
        pa.field("first_ms", pa.float64(), nullable=False),
        pa.field("last_ms", pa.float64(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        *_PROBABILITIES,
        *_MODEL,
    ]
)
"""One row per video track, as `/v1/video`'s summary lists them: its span, frame count and mean answer."""

SOURCES = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error_code", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("faces", pa.int64(), nullable=False),
        pa.field("duration_ms", pa.float64()),
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("mtime_ns", pa.int64(), nullable=False),
        pa.field("sha256", pa.string()),
        pa.field("true_label", pa.string()),
        pa.field("model", pa.string()),
        pa.field("checkpoint_sha256", pa.string()),
    ]
)
"""One row per input, written with (and after) its faces and tracks: the ledger a rerun reads to skip what is
done. `status` is `ok` or `failed` (then `error_code` and `error_message` say why, as the HTTP API would);
`frames` counts analysed frames (1 for a photo); `true_label` is the dataset's label, when one was given."""

SCHEMAS: Mapping[str, pa.Schema] = {"faces": FACES, "tracks": TRACKS, "sources": SOURCES}


def with_metadata(name: str) -> pa.Schema:
    """The table's schema carrying its name and the schema version, as every part stores it."""
    return SCHEMAS[name].with_metadata({"motivnet.table": name, "motivnet.schema_version": str(SCHEMA_VERSION)})


def table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts keyed by column) as the named table; a missing nullable column is null, a missing required
    one or a wrong type raises, so a writer cannot drift from the schema."""
    return pa.Table.from_pylist(list(rows), schema=with_metadata(name))


def probability_columns(labels: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    """The model's probabilities (in its label order) as the schema's emotion columns."""
    columns = {label.lower(): value for label, value in zip(labels, row)}
    missing = [name for name in EMOTIONS if name not in columns]
    if missing:
        raise ValueError(f"the model's labels {list(labels)} lack {missing}; analyze needs the seven basic emotions")
    return {name: columns[name] for name in EMOTIONS}
