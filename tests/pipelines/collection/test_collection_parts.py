"""The output folder on a real disk: parts appear whole, interrupted writes are cleared, the ledger decides what
a rerun skips, and a changed source is taken out before it is analysed again. No model: rows are made here."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from motivnet_serve.pipelines.collection.parts import TEMPORARY, Done, Output, SourceRows, pending
from motivnet_serve.pipelines.collection.schema import EMOTIONS, SCHEMA_VERSION, probability_columns, table
from motivnet_serve.pipelines.collection.sources import content_sha256, list_sources


def rows(source: str, faces: int, status: str = "ok") -> SourceRows:
    record = {"source": source, "kind": "photo", "status": status, "frames": 1, "faces": faces}
    record |= {"seconds": 0.1, "size_bytes": 10, "mtime_ns": 20}
    face = {"source": source, "kind": "photo", "frame": 0, "label": "Fear", "model": "m", "checkpoint_sha256": "c"}
    return SourceRows(record, [{**face, "face": index, **dict.fromkeys(EMOTIONS, 0.1)} for index in range(faces)])


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_parts_round_trip_and_a_source_can_be_forgotten(tmp_path, fmt):
    output = Output(tmp_path, fmt)
    assert output.open() == {}
    output.write([rows("a", 2), rows("b", 0, "failed")])
    output.write([rows("c", 1)])
    assert output.open() == {"a": Done(10, 20, True), "b": Done(10, 20, False), "c": Done(10, 20, True)}
    assert output.read("faces").column("source").to_pylist() == ["a", "a", "c"]
    output.forget({"a"})
    assert set(output.open()) == {"b", "c"}
    assert output.read("faces").column("source").to_pylist() == ["c"]
    assert output.read("faces").schema.equals(table("faces", []).schema)


def test_a_part_without_its_sources_file_and_temporary_files_are_cleared(tmp_path):
    output = Output(tmp_path)
    output.open()
    committed = output.write([rows("a", 1)])
    orphan = output.write([rows("b", 3)])
    (tmp_path / "sources" / f"{orphan}.parquet").unlink()  # the crash came before the commit
    (tmp_path / "faces" / f"part-9{TEMPORARY}").write_bytes(b"half a file")
    assert set(output.open()) == {"a"}
    assert sorted(path.name for path in (tmp_path / "faces").iterdir()) == [f"{committed}.parquet"]
    assert output.read("faces").num_rows == 1


def test_one_run_at_a_time_writes_to_a_folder(tmp_path):
    first = Output(tmp_path)
    first.open()
    with pytest.raises(ValueError, match="another run is writing"):
        Output(tmp_path).open()
    first.close()
    assert Output(tmp_path).open() == {}


def test_parts_carry_the_schema_version_and_another_version_is_refused(tmp_path):
    output = Output(tmp_path)
    output.open()
    part = output.write([rows("a", 1)])
    path = tmp_path / "faces" / f"{part}.parquet"
    metadata = pq.read_schema(path).metadata
    assert metadata[b"motivnet.schema_version"] == str(SCHEMA_VERSION).encode()
    assert metadata[b"motivnet.table"] == b"faces"
    old = pq.read_table(path)
    pq.write_table(old.replace_schema_metadata({b"motivnet.schema_version": b"0"}), path)
    with pytest.raises(ValueError, match="schema version 0"):
        output.open()


def test_pending_skips_done_and_redoes_changed_and_optionally_failed(tmp_path):
    for name in ("same", "changed", "failed", "new"):
        (tmp_path / f"{name}.jpg").write_bytes(b"x")
    sources = {source.path.rsplit("/", 1)[1]: source for source in list_sources([str(tmp_path)])}
    ledger = {
        sources["same.jpg"].uri: Done(1, sources["same.jpg"].mtime_ns, True),
        sources["changed.jpg"].uri: Done(1, sources["changed.jpg"].mtime_ns - 1, True),
        sources["failed.jpg"].uri: Done(1, sources["failed.jpg"].mtime_ns, False),
    }
    todo, stale = pending(list(sources.values()), ledger, retry_failed=False)
    assert {source.uri for source in todo} == {sources["changed.jpg"].uri, sources["new.jpg"].uri}
    assert stale == {sources["changed.jpg"].uri}
    todo, stale = pending(list(sources.values()), ledger, retry_failed=True)
    assert stale == {sources["changed.jpg"].uri, sources["failed.jpg"].uri}


def test_with_content_checked_a_file_rewritten_with_its_old_size_and_time_is_redone(tmp_path):
    path = tmp_path / "same.jpg"
    path.write_bytes(b"before")
    [source] = list_sources([str(tmp_path)])
    ledger = {source.uri: Done(source.size, source.mtime_ns, True, content_sha256(source))}
    stat = path.stat()
    path.write_bytes(b"after!")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time
    [source] = list_sources([str(tmp_path)])
    assert pending([source], ledger, retry_failed=False) == ([], set())
    assert pending([source], ledger, retry_failed=False, content=content_sha256) == ([source], {source.uri})


def test_a_part_is_durable_once_renamed(tmp_path):
    """Nothing under a temporary name survives a finished write."""
    output = Output(tmp_path, "csv")
    output.open()
    output.write([rows("a", 1)])
    leftovers = [name for _, _, files in os.walk(tmp_path) for name in files if name.endswith(TEMPORARY)]
    assert leftovers == []


def test_probabilities_map_by_name_whatever_the_model_order():
    labels = ("Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger")
    columns = probability_columns(labels, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert columns["anger"] == 0.6
    assert columns["neutral"] == 0.0
    with pytest.raises(ValueError, match="seven basic emotions"):
        probability_columns(("Yes", "No"), [0.5, 0.5])
