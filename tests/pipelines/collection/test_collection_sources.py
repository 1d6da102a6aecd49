"""Listing a collection from real files: folders, globs, CSV and Parquet manifests, labels from folder names."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from motivnet_serve.pipelines.collection.sources import list_sources


@pytest.fixture
def collection(tmp_path):
    for path in ("happy/a.jpg", "happy/b.PNG", "sad/c.jpeg", "clips/one.mp4", "notes.txt", "deep/er/x.webm"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"0123456789")
    return tmp_path


def names(sources) -> list[str]:
    return [source.uri.rsplit("/", 2)[-2] + "/" + source.uri.rsplit("/", 1)[-1] for source in sources]


def test_a_folder_is_walked_for_media_only_in_sorted_order(collection):
    sources = list_sources([str(collection)])
    assert names(sources) == ["clips/one.mp4", "er/x.webm", "happy/a.jpg", "happy/b.PNG", "sad/c.jpeg"]
    assert [source.kind for source in sources] == ["video", "video", "photo", "photo", "photo"]
    assert all(source.size == 10 and source.mtime_ns > 0 and source.label is None for source in sources)


def test_labels_come_from_folder_names_when_asked(collection):
    sources = list_sources([str(collection / "happy"), str(collection / "sad")], labels_from_folders=True)
    assert [source.label for source in sources] == ["happy", "happy", "sad"]


def test_globs_and_overlapping_inputs_list_each_file_once(collection):
    sources = list_sources([f"{collection}/*/*.jp*g", str(collection / "happy" / "a.jpg")])
    assert names(sources) == ["happy/a.jpg", "sad/c.jpeg"]


def test_a_csv_manifest_resolves_relative_paths_and_keeps_labels_and_missing_files(collection):
    manifest = collection / "list.csv"
    manifest.write_text(f"path,label\nhappy/a.jpg,happy\n{collection}/sad/c.jpeg,sad\ngone.jpg,\n")
    sources = list_sources([str(manifest)])
    assert [(source.uri, source.label) for source in sources] == [
        (str(collection / "gone.jpg"), None),
        (str(collection / "happy" / "a.jpg"), "happy"),
        (str(collection / "sad" / "c.jpeg"), "sad"),
    ]
    assert sources[0].size == -1  # the missing file still gets its row, saying so


def test_a_parquet_manifest_without_labels(collection):
    manifest = collection / "list.parquet"
    pq.write_table(pa.table({"path": ["clips/one.mp4", "notes.txt"]}), manifest)
    sources = list_sources([str(manifest)])
    assert [source.kind for source in sources] == ["video", "unknown"]  # named explicitly, so taken


def test_a_manifest_without_a_path_column_and_an_input_naming_nothing_are_refused(collection):
    (collection / "bad.csv").write_text("file\nhappy/a.jpg\n")
    with pytest.raises(ValueError, match="'path' column"):
        list_sources([str(collection / "bad.csv")])
    with pytest.raises(FileNotFoundError, match="nothing matches"):
        list_sources([str(collection / "nope")])
    with pytest.raises(FileNotFoundError):
        list_sources([f"{collection}/*.gif"])
