"""`python -m motivnet_serve export --format onnx`: the served networks for ONNX Runtime and Triton.

Only the options live here: the exporter and ONNX Runtime come with the optional `onnx` extra, so they are
imported when the command runs (`export_onnx.py`), and the service starts without them.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from motivnet_serve.backends.export import DEFAULT_OPSET
from motivnet_serve.settings import Settings

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_export_command(commands: Subcommands) -> None:
    """The `export` command and its options (registered by `main.build_parser`)."""
    export = commands.add_parser("export", help="write the model as ONNX (and a Triton model repository)")
    export.add_argument("--format", choices=["onnx"], required=True, help="the file format (ONNX only, for now)")
    export.add_argument("--model-dir", help="model folder, or 'auto' (default)")
    export.add_argument("--out", metavar="FILE", help="the emotion model's file (default: MODEL_NAME.onnx)")
    export.add_argument("--triton-repo", metavar="DIR", help="also write a Triton model repository of the exports")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    export.add_argument("--with-detector", action="store_true", help="also export the face detector, beside --out")
    export.add_argument("--no-weights", action="store_true", help="the graph without weights (no checkpoint read)")
    export.add_argument("--check", nargs="+", metavar="IMAGE", help="compare torch and ONNX Runtime on these photos")
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from motivnet_serve.cli.export_onnx import run_export
    except ImportError as exc:
        raise ValueError(f"export needs the 'onnx' extra ({exc}): pip install 'motivnet-serve[onnx]'") from None
    return run_export(args, settings)
