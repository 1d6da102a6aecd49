"""The Open Inference Protocol (KServe v2): the served model over `/v2` REST and over gRPC.

What the protocol carries is decided once, in `inference.py` (the inputs, the parameters, the outputs and
the model's metadata); `tensors.py` holds the tensors both transports share; the REST route and its body
codec (`routes/oip.py`, `rest_codec.py`) and the gRPC service (`grpc_service.py`, `grpc_server.py`) only
translate.
"""
