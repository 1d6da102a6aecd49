"""The served networks as files other runtimes load: ONNX (`onnx.py`), a Triton model repository (`triton.py`)."""
