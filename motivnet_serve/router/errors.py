"""One place that turns failures into error responses: `{"error": {"code", "message"}}`, or under `/v2` (the
Open Inference Protocol) the protocol's own `{"error": "<message>"}`, which its clients read."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from motivnet_serve.core.errors import ServiceError

PROTOCOL_V2 = "/v2"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, *, path: str = ""
) -> JSONResponse:
    """The error document for a request to `path`."""
    if path == PROTOCOL_V2 or path.startswith(f"{PROTOCOL_V2}/"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers, path=request.url.path)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return error_response(422, "invalid_request", problems, path=request.url.path)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None), path=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking `Exception`; each of ours takes the class it is registered for.
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
