"""The output folder: each table a folder of parts that appear whole or not at all, and the ledger they make.

A part holds whole sources only. It is written as three files that share one part id (`faces/`, `tracks/`,
`sources/`), each to a temporary name, flushed to disk and renamed; the `sources` file goes last and is the
commit: faces or tracks without their `sources` file are leftovers of an interrupted write, removed when the
folder is opened again. So the `sources` rows are the ledger of completed work, and a rerun skips exactly
the sources they list with the same size and modification time, and redoes the others: every (source,
frame) lands once, however often the job is stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from motivnet_serve.pipelines.collection.schema import SCHEMA_VERSION, SCHEMAS, TABLES, table, with_metadata
from motivnet_serve.pipelines.collection.sources import Source

FORMATS = ("parquet", "csv", "jsonl")
TEMPORARY = ".tmp"
LOCK = ".lock"


@dataclass
class SourceRows:
    """One source's rows in the three tables: what a part takes whole, or not at all."""

    source: dict[str, Any]
    faces: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Done:
    """A source as the ledger has it: the file's size, time and content hash when analysed, and its status."""

    size: int
    mtime_ns: int
    ok: bool
    sha256: str | None = None


class Output:
    """A local output folder in one format. `open` clears interrupted writes and reads the ledger; `write`
    adds a part; `forget` takes sources out of the tables so that they can be analysed again."""

    def __init__(self, folder: Path, fmt: str = "parquet") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.folder = folder
        self.format = fmt
        self.suffix = ".jsonl" if fmt == "jsonl" else f".{fmt}"
        self._lock: int | None = None

    def open(self) -> dict[str, Done]:
        """Makes the folders, takes the folder's lock (one run at a time: a second would take the first's
        uncommitted parts for leftovers), removes what an interrupted run left half-written, and returns the
        ledger. `close` lets the lock go; the lock also goes when the process ends, however it ends."""
        for name in TABLES:
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        committed = {path.stem for path in self._parts("sources")}
        for name in TABLES:
            for path in (self.folder / name).iterdir():
                if path.name.endswith(TEMPORARY) or (path.suffix == self.suffix and path.stem not in committed):
                    path.unlink()
        self._check_version()
        rows = self.read("sources").select(["source", "size_bytes", "mtime_ns", "status", "sha256"]).to_pylist()
        return {
            row["source"]: Done(row["size_bytes"], row["mtime_ns"], row["status"] == "ok", row["sha256"])
            for row in rows
        }

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _take_lock(self) -> None:
        if self._lock is not None:
            return
        descriptor = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise ValueError(f"another run is writing to {self.folder}; wait for it, or write elsewhere") from None
        self._lock = descriptor

    def write(self, batch: Sequence[SourceRows]) -> str:
        """One part with the batch's sources; returns its id. Parts sort in the order they were written."""
        part = f"part-{time.time_ns():020d}-{secrets.token_hex(4)}"
        self._commit(part, "faces", table("faces", [row for rows in batch for row in rows.faces]))
        self._commit(part, "tracks", table("tracks", [row for rows in batch for row in rows.tracks]))
        self._commit(part, "sources", table("sources", [rows.source for rows in batch]))
        return part

    def forget(self, uris: Collection[str]) -> None:
        """Rewrites every part that holds one of these sources without it (faces and tracks first, the
        ledger last: a crash in between leaves them listed as done with their old key, so the next run
        forgets them again)."""
        wanted = pa.array(sorted(uris), pa.string())
        for name in ("faces", "tracks", "sources"):
            for path in self._parts(name):
                rows = self._read_part(path, name)
                keep = pc.invert(pc.is_in(rows.column("source"), value_set=wanted))
                if not pc.all(keep).as_py():
                    self._commit(path.stem, name, rows.filter(keep))

    def read(self, name: str) -> pa.Table:
        """The whole table, every committed part concatenated in the order they were written."""
        parts = [self._read_part(path, name) for path in self._parts(name)]
        return pa.concat_tables(parts) if parts else table(name, [])

    def _parts(self, name: str) -> list[Path]:
        folder = self.folder / name
        return sorted(folder.glob(f"part-*{self.suffix}")) if folder.is_dir() else []

    def _commit(self, part: str, name: str, rows: pa.Table) -> None:
        final = self.folder / name / f"{part}{self.suffix}"
        temporary = final.with_name(final.name + TEMPORARY)
        with temporary.open("wb") as handle:
            self._write_rows(rows, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _sync_folder(final.parent)

    def _write_rows(self, rows: pa.Table, handle: IO[bytes]) -> None:
        if self.format == "parquet":
            pq.write_table(rows, handle)
        elif self.format == "csv":
            pa_csv.write_csv(rows, handle)
        else:
            handle.writelines((json.dumps(row) + "\n").encode() for row in rows.to_pylist())

    def _read_part(self, path: Path, name: str) -> pa.Table:
        schema = with_metadata(name)
        if self.format == "parquet":
            return pq.read_table(path, schema=schema)
        if self.format == "csv":
            options = pa_csv.ConvertOptions(column_types=schema, strings_can_be_null=True)
            return pa_csv.read_csv(path, convert_options=options).cast(schema)
        if path.stat().st_size == 0:
            return table(name, [])
        return pa_json.read_json(path, parse_options=pa_json.ParseOptions(explicit_schema=schema)).cast(schema)

    def _check_version(self) -> None:
        """Parts of another schema version would mix two meanings in one column: refuse, and say what to do."""
        if self.format != "parquet":
            return
        for name in SCHEMAS:
            for path in self._parts(name)[:1]:
                found = (pq.read_schema(path).metadata or {}).get(b"motivnet.schema_version", b"?").decode()
                if found != str(SCHEMA_VERSION):
                    raise ValueError(
                        f"{self.folder} holds schema version {found}, this is version {SCHEMA_VERSION}: "
                        "write to a new folder"
                    )


def pending(
    sources: Sequence[Source],
    ledger: dict[str, Done],
    *,
    retry_failed: bool,
    content: Callable[[Source], str] | None = None,
) -> tuple[list[Source], set[str]]:
    """The sources still to analyse, and those among them whose old rows must go first: changed since (size or
    time; with `content`, also a content hash that differs), or failed when retrying failures."""
    todo: list[Source] = []
    stale: set[str] = set()
    for source in sources:
        done = ledger.get(source.uri)
        if done is not None and (done.size, done.mtime_ns) == (source.size, source.mtime_ns):
            same = content is None or done.sha256 is None or content(source) == done.sha256
            if same and (done.ok or not retry_failed):
                continue
        todo.append(source)
        if done is not None:
            stale.add(source.uri)
    return todo, stale


def _sync_folder(folder: Path) -> None:
    """A rename is durable once its folder is flushed too."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
