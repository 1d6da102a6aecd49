"""The committed gRPC code is what the committed .proto generates, and its messages are the protocol's: the same
names and field numbers as tritonclient's own copy of `grpc_service.proto`, so its clients talk to us unchanged.

Both copies define the package `inference`, and protobuf refuses two definitions of one name in a process, so
each is read in a subprocess of its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PROTOCOL = Path("motivnet_serve/router/oip/protocol")
DESCRIBE = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
def fields(message):
    found = {f.name: [f.number, f.type] for f in message.fields}
    for nested in message.nested_types:
        if not nested.GetOptions().map_entry:
            found[nested.name] = fields(nested)
    return found
file = module.DESCRIPTOR
service = file.services_by_name["GRPCInferenceService"]
ours = json.loads(sys.argv[2]) if len(sys.argv) > 2 else list(file.message_types_by_name)
print(json.dumps({
    "package": file.package,
    "messages": {name: fields(file.message_types_by_name[name]) for name in ours},
    "methods": {m.name: [m.input_type.full_name, m.output_type.full_name] for m in service.methods},
}))
"""


def describe(module: str, names: list[str] | None = None) -> dict:
    command = [sys.executable, "-c", DESCRIBE, module, *([json.dumps(names)] if names else [])]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def test_generated_code_matches_the_proto(tmp_path: Path):
    """What `make protos` writes, byte for byte: regenerate whenever the .proto changes."""
    (tmp_path / PROTOCOL).mkdir(parents=True)
    shutil.copy(ROOT / PROTOCOL / "grpc_service.proto", tmp_path / PROTOCOL)
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=."]
    subprocess.run([*command, str(PROTOCOL / "grpc_service.proto")], cwd=tmp_path, check=True, timeout=120)
    for name in ("grpc_service_pb2.py", "grpc_service_pb2.pyi"):
        assert (tmp_path / PROTOCOL / name).read_text() == (ROOT / PROTOCOL / name).read_text(), (
            f"run make protos: {name}"
        )


def test_messages_and_methods_are_the_protocols():
    ours = describe("motivnet_serve.router.oip.protocol.grpc_service_pb2")
    triton = describe("tritonclient.grpc.service_pb2", list(ours["messages"]))
    assert ours["package"] == triton["package"] == "inference"
    assert ours["messages"] == triton["messages"]
    for method, types in ours["methods"].items():
        assert triton["methods"][method] == types
