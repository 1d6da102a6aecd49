"""What a collection is made of: the inputs a user names, turned into a sorted list of `Source`s.

Pure listing: nothing here decodes a pixel or loads a model, so any runner (this machine's job, a cluster's
first stage) lists once and hands the same `Source`s on. Inputs are files, folders (recursive), globs, or
manifests (CSV or Parquet with a `path` column and an optional `label`), on the local disk or on any
filesystem pyarrow reaches by URI (`s3://bucket/prefix`, `gs://...`). Each source carries its size and
modification time, the key a rerun compares to know whether it is already done.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet"})
GLOB_CHARACTERS = frozenset("*?[")
READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Source:
    """One input: `uri` names it in every table (a local absolute path, or `scheme://bucket/key`); `path` is
    the same inside `filesystem`. `kind` is `photo`, `video`, or `unknown` (decided from its first bytes);
    `size` and `mtime_ns` are -1 when the file is missing (its row then says so); `label` is its true class,
    when the manifest or its folder gives one."""

    uri: str
    path: str
    filesystem: pafs.FileSystem
    size: int
    mtime_ns: int
    kind: str
    label: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies this version of the file: a rerun redoes a source whose key changed."""
        return (self.uri, self.size, self.mtime_ns)


def list_sources(inputs: Sequence[str], *, labels_from_folders: bool = False) -> list[Source]:
    """Every source the inputs name, once each, sorted by URI. An input that names nothing (no such file,
    folder or match) raises FileNotFoundError: a typo should not look like an empty collection."""
    found: dict[str, Source] = {}
    for given in inputs:
        named = list(_expand(given, labels_from_folders))
        if not named:
            raise FileNotFoundError(f"{given}: no such file or folder, or nothing matches it")
        for source in named:
            found.setdefault(source.uri, source)
    return [found[uri] for uri in sorted(found)]


def kind_of(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in PHOTO_SUFFIXES:
        return "photo"
    return "video" if suffix in VIDEO_SUFFIXES else "unknown"


def _expand(given: str, labels_from_folders: bool) -> Iterator[Source]:
    filesystem, path, prefix = _locate(given)
    if GLOB_CHARACTERS & set(path):
        yield from _globbed(filesystem, path, prefix, labels_from_folders)
        return
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        yield from _walk(filesystem, path, prefix, labels_from_folders)
    elif info.type == pafs.FileType.File and PurePosixPath(path).suffix.lower() in MANIFEST_SUFFIXES:
        yield from _manifest(filesystem, path, prefix)
    elif info.type == pafs.FileType.File:
        yield _source(info, filesystem, prefix, None)


def _locate(given: str) -> tuple[pafs.FileSystem, str, str]:
    """The filesystem, the path inside it, and the prefix that makes a path a URI again."""
    if "://" in given:
        filesystem, path = pafs.FileSystem.from_uri(given)
        return filesystem, path, given.split("://", 1)[0] + "://"
    return pafs.LocalFileSystem(), os.path.abspath(given), ""


def _walk(filesystem: pafs.FileSystem, folder: str, prefix: str, labels: bool) -> Iterator[Source]:
    """Media files under the folder at any depth; other files (notes, manifests) are not part of it."""
    for info in filesystem.get_file_info(pafs.FileSelector(folder, recursive=True)):
        if info.type == pafs.FileType.File and kind_of(info.path) != "unknown":
            yield _source(info, filesystem, prefix, _folder_label(info.path) if labels else None)


def _globbed(filesystem: pafs.FileSystem, pattern: str, prefix: str, labels: bool) -> Iterator[Source]:
    """Files matching the pattern (`*` also crosses folders), listed from the deepest folder without a wildcard."""
    parts = PurePosixPath(pattern).parts
    fixed = next(index for index, part in enumerate(parts) if GLOB_CHARACTERS & set(part))
    base = str(PurePosixPath(*parts[:fixed])) if fixed else "/"
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    for info in filesystem.get_file_info(selector):
        if info.type == pafs.FileType.File and fnmatch.fnmatchcase(info.path, pattern):
            yield _source(info, filesystem, prefix, _folder_label(info.path) if labels else None)


def _manifest(filesystem: pafs.FileSystem, manifest: str, prefix: str) -> Iterator[Source]:
    """A manifest's rows: `path` (relative paths are relative to the manifest's folder) and optional `label`."""
    rows = _read_manifest(filesystem, manifest)
    if "path" not in rows.column_names:
        raise ValueError(f"{prefix}{manifest}: a manifest needs a 'path' column; it has {rows.column_names}")
    paths = [str(value) for value in rows.column("path").to_pylist()]
    labels = rows.column("label").to_pylist() if "label" in rows.column_names else [None] * len(paths)
    folder = str(PurePosixPath(manifest).parent)
    for path, label in zip(paths, labels):
        inner_fs, inner_path, inner_prefix = _locate(path) if "://" in path else (filesystem, path, prefix)
        if "://" not in path and not PurePosixPath(path).is_absolute():
            inner_path = os.path.normpath(f"{folder}/{path}")
        info = inner_fs.get_file_info(inner_path)
        yield _source(info, inner_fs, inner_prefix, str(label) if label else None)


def _read_manifest(filesystem: pafs.FileSystem, manifest: str) -> pa.Table:
    with filesystem.open_input_file(manifest) as handle:
        if manifest.lower().endswith(".parquet"):
            return pq.read_table(handle)
        string_columns = {"path": pa.string(), "label": pa.string()}
        return pa_csv.read_csv(handle, convert_options=pa_csv.ConvertOptions(column_types=string_columns))


def _source(info: pafs.FileInfo, filesystem: pafs.FileSystem, prefix: str, label: str | None) -> Source:
    present = info.type == pafs.FileType.File
    size = info.size if present and info.size is not None else -1
    mtime = info.mtime_ns if present and info.mtime_ns is not None else -1
    return Source(f"{prefix}{info.path}", info.path, filesystem, size, mtime, kind_of(info.path), label)


def _folder_label(path: str) -> str:
    """ImageFolder's layout: a file's class is the name of the folder it sits in."""
    return PurePosixPath(path).parent.name


def content_sha256(source: Source) -> str:
    """The file's sha256, streamed (a video is never held whole for it)."""
    digest = hashlib.sha256()
    with source.filesystem.open_input_stream(source.path) as stream:
        for chunk in iter(lambda: stream.read(READ_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
