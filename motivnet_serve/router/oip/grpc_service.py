"""The protocol's `inference.GRPCInferenceService`: the same verbs as `/v2`, through the same engine.

Handlers are built here from the generated messages (no generated servicer base class). Every call but the
liveness and readiness probes needs an API key when keys are set, in the `authorization` metadata as
`Bearer <key>`. A call's deadline is the client's gRPC deadline or `request_timeout_ms`, whichever comes
first; a call the client cancels is cancelled here too, and its queued faces are withdrawn with it.
`ModelStreamInfer` answers a stream of requests in order, holding one of the `max_streams` live-session slots
for its life; a request that fails gets its error in `error_message` and the stream goes on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn, TypeAlias

import grpc

from motivnet_serve.core.errors import NotReadyError, ServiceError, UnauthorizedError
from motivnet_serve.core.metrics import GRPC_INFER, GRPC_STREAM
from motivnet_serve.router.access import ApiKeys
from motivnet_serve.router.oip.grpc_codec import request_of, response_of
from motivnet_serve.router.oip.inference import (
    EXTENSIONS,
    SERVER_NAME,
    SERVER_VERSION,
    check_model,
    infer,
    model_metadata,
)
from motivnet_serve.router.oip.protocol import grpc_service_pb2 as pb
from motivnet_serve.router.state import ServiceState

SERVICE = "inference.GRPCInferenceService"
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""HTTP statuses of `core/errors.py` as gRPC codes; any other 4xx (415, 422) is INVALID_ARGUMENT."""

Context: TypeAlias = Any
"""`grpc.aio.ServicerContext`; grpcio ships no type information."""


class InferenceService:
    def __init__(self, state: ServiceState, keys: ApiKeys) -> None:
        self.state = state
        self.keys = keys

    async def server_live(self, _: pb.ServerLiveRequest, __: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, _: pb.ServerReadyRequest, __: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.state.not_ready_reason is None)

    async def server_metadata(self, _: pb.ServerMetadataRequest, context: Context) -> pb.ServerMetadataResponse:
        await self._authorize(context)
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=EXTENSIONS)

    async def model_metadata(self, request: pb.ModelMetadataRequest, context: Context) -> pb.ModelMetadataResponse:
        await self._authorize(context)
        description = await _answer(context, lambda: self.state.require_engine().describe())
        await _answer(context, lambda: check_model(description, request.name, request.version))
        return pb.ModelMetadataResponse(**model_metadata(description))

    async def model_ready(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        await self._authorize(context)
        engine = await _answer(context, self.state.require_engine)
        await _answer(context, lambda: check_model(engine.describe(), request.name, request.version))
        return pb.ModelReadyResponse(ready=engine.accepting)

    async def model_infer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        await self._authorize(context)
        started, status = time.perf_counter(), 499
        try:
            response = await self._infer(request, context)
            status = 200
            return response
        except ServiceError as exc:
            status = exc.status
            await _abort(context, exc)
        finally:
            self.state.metrics.request_done(GRPC_INFER, status, time.perf_counter() - started)

    async def model_stream_infer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: Context
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        await self._authorize(context)
        engine = await _answer(context, self.state.require_engine)
        try:
            with engine.session("stream"):
                async for request in requests:
                    yield await self._stream_answer(request, context)
        except ServiceError as exc:  # only entering the session raises one: each answer catches its own
            await _abort(context, exc)

    async def _stream_answer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelStreamInferResponse:
        """One request of a stream; its failure is its answer, except a server going away, which ends it."""
        started, status = time.perf_counter(), 499
        try:
            answer = pb.ModelStreamInferResponse(infer_response=await self._infer(request, context))
            status = 200
        except NotReadyError as exc:
            status = exc.status
            await _abort(context, exc)
        except ServiceError as exc:
            status = exc.status
            answer = pb.ModelStreamInferResponse(error_message=exc.message)
        finally:
            self.state.metrics.request_done(GRPC_STREAM, status, time.perf_counter() - started)
        return answer

    async def _infer(self, message: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        engine = self.state.require_engine()
        limits = self.state.limits
        remaining = context.time_remaining()
        timeout_s = limits.request_timeout_s
        deadline = time.monotonic() + (timeout_s if remaining is None else min(timeout_s, remaining))
        request = request_of(message)
        async with engine.admit(deadline):
            outputs = await infer(engine, limits.max_files, request, deadline)
        return response_of(request, outputs)

    async def _authorize(self, context: Context) -> None:
        metadata = dict(context.invocation_metadata() or ())
        if not self.keys.allow(str(metadata.get("authorization", ""))):
            await _abort(context, UnauthorizedError("missing or unknown API key: send metadata authorization"))


async def _answer(context: Context, work: Callable[[], Any]) -> Any:
    """`work()`'s result, or the call aborted with its `ServiceError`'s code."""
    try:
        return work()
    except ServiceError as exc:
        await _abort(context, exc)


async def _abort(context: Context, error: ServiceError) -> NoReturn:
    code = CODES.get(error.status, grpc.StatusCode.INVALID_ARGUMENT)
    await context.abort(code, error.message)
    raise AssertionError("unreachable: abort raises")


def handlers(service: InferenceService) -> grpc.GenericRpcHandler:
    """The service's method handlers under the protocol's names, with the messages' own (de)serializers."""
    unary = grpc.unary_unary_rpc_method_handler
    methods = {
        "ServerLive": unary(service.server_live, pb.ServerLiveRequest.FromString, _out),
        "ServerReady": unary(service.server_ready, pb.ServerReadyRequest.FromString, _out),
        "ServerMetadata": unary(service.server_metadata, pb.ServerMetadataRequest.FromString, _out),
        "ModelMetadata": unary(service.model_metadata, pb.ModelMetadataRequest.FromString, _out),
        "ModelReady": unary(service.model_ready, pb.ModelReadyRequest.FromString, _out),
        "ModelInfer": unary(service.model_infer, pb.ModelInferRequest.FromString, _out),
        "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(
            service.model_stream_infer, pb.ModelInferRequest.FromString, _out
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def _out(message: Any) -> bytes:
    return bytes(message.SerializeToString())
