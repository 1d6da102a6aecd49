"""`analyze s3://...` against an S3-compatible server (moto) that the test starts on a loopback port and
stops after: objects are listed, read and analysed as local files are, and named by their URIs; the tables
are written as CSV and hold the numbers of the Parquet run on the same files."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pyarrow.fs as pafs
import pytest

from motivnet_serve.pipelines.collection.job import JobOptions
from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.pipelines.collection.rows import AnalyzeOptions
from motivnet_serve.pipelines.collection.run import analyze
from motivnet_serve.pipelines.collection.schema import EMOTIONS
from tests.pipelines.collection.conftest import mini_settings

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(600)]

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def s3_endpoint(tmp_path, monkeypatch) -> Iterator[str]:
    """moto's server on a port the kernel picks; its address read from its own first lines."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    log = (tmp_path / "moto.log").open("w+")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"Running on http://(127\.0\.0\.1:\d+)", (tmp_path / "moto.log").read_text())):
            assert process.poll() is None, (tmp_path / "moto.log").read_text()
            assert time.monotonic() < deadline, "moto never listened"
            time.sleep(0.05)
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_bucket_is_analysed_like_the_same_files_on_disk(s3_endpoint, analyzed, tmp_path):
    bucket = pafs.S3FileSystem(
        endpoint_override=s3_endpoint, scheme="http", region="us-east-1", allow_bucket_creation=True
    )
    bucket.create_dir("collection")
    local = sorted(path for path in analyzed.inputs.rglob("*") if path.is_file())
    for path in local:
        with bucket.open_output_stream(f"collection/{path.relative_to(analyzed.inputs)}") as stream:
            stream.write(path.read_bytes())
    uri = f"s3://collection/?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    job = JobOptions(analyze=AnalyzeOptions(fps=5), progress=False)
    out = tmp_path / "out"  # written as CSV: the same tables in another format
    result = analyze([uri], out, fmt="csv", job=job, labels_from_folders=True, settings=mini_settings())
    assert result.summary.ok == len(local)
    remote = Output(out, "csv")
    assert {path.suffix for path in (out / "faces").iterdir()} == {".csv"}
    assert sorted(row["source"] for row in remote.read("sources").to_pylist()) == sorted(
        f"s3://collection/{path.relative_to(analyzed.inputs)}" for path in local
    )
    assert result.report["confusion"] == analyzed.result.report["confusion"]
    on_disk = probabilities(analyzed.output, f"{analyzed.inputs}/")
    in_bucket = probabilities(remote, "s3://collection/")
    assert in_bucket.keys() == on_disk.keys()
    assert all(in_bucket[key] == pytest.approx(on_disk[key], abs=1e-4) for key in on_disk)


def probabilities(output: Output, prefix: str) -> dict[tuple, list[float]]:
    """Each face's probabilities by (path inside the collection, frame, face)."""
    rows = output.read("faces").to_pylist()
    return {(row["source"].removeprefix(prefix), row["frame"], row["face"]): [row[e] for e in EMOTIONS] for row in rows}
