"""The served networks as files other runtimes load: ONNX (`onnx.py`), a Triton model repository (`triton.py`).

Nothing here imports `onnx`, which comes with the optional `onnx` extra: the CLI reads its defaults without it.
"""

DEFAULT_OPSET = 18
"""Supported by every ONNX Runtime since 1.14 and by Triton's onnxruntime backend since 23.02. It is also the
lowest the dynamo exporter writes reliably: below it, onnx's version converter fails on this graph."""
