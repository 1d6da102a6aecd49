"""Every failure a client can cause, with its HTTP status and a stable error code.

One table: the HTTP layer turns a `ServiceError` into `{"error": {"code", "message"}}` with `status`,
and the CLI prints its message. Messages say what to do about it.
"""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None, *, retry_after_s: int = 1) -> None:
        """Every 503 says when to come back (`Retry-After`, seconds): set here and nowhere else."""
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if self.status == 503:
            self.headers.setdefault("Retry-After", str(retry_after_s))


class UnauthorizedError(ServiceError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


class ModelNotFoundError(ServiceError):
    """The Open Inference Protocol names the model in the path; this server serves one."""

    status, code = 404, "model_not_found"


class UploadTimeoutError(ServiceError):
    """The body did not arrive in time (a stalled or very slow client); the connection is closed after."""

    status, code = 408, "upload_timeout"


class NoImageError(ServiceError):
    status, code = 400, "no_image"


class TooManyFilesError(ServiceError):
    status, code = 413, "too_many_files"


class UploadTooLargeError(ServiceError):
    status, code = 413, "upload_too_large"


class ImageTooLargeError(ServiceError):
    status, code = 413, "image_too_large"


class RequestTooLargeError(ServiceError):
    """The request's images together hold more pixels than one request may decode."""

    status, code = 413, "request_too_large"


class UnsupportedImageError(ServiceError):
    status, code = 415, "unsupported_image"


class CorruptImageError(ServiceError):
    status, code = 422, "corrupt_image"


class NoVideoError(ServiceError):
    status, code = 400, "no_video"


class UnsupportedVideoError(ServiceError):
    status, code = 415, "unsupported_video"


class CorruptVideoError(ServiceError):
    status, code = 422, "corrupt_video"


class VideoTooLongError(ServiceError):
    status, code = 413, "video_too_long"


class FrameTooLargeError(ServiceError):
    status, code = 413, "frame_too_large"


class FrameTooSmallError(ServiceError):
    """Frames with fewer than a detector's smallest face in them (a 1x1 video): nothing could be found."""

    status, code = 422, "frame_too_small"


class QueueFullError(ServiceError):
    status, code = 503, "queue_full"


class OverloadedError(ServiceError):
    """Too many requests in flight, or no room in the pixel budget: refused before any work is done."""

    status, code = 503, "overloaded"


class NotReadyError(ServiceError):
    status, code = 503, "not_ready"


class DeadlineExceededError(ServiceError):
    status, code = 504, "timeout"


class InferenceError(ServiceError):
    """This face could not be classified (it could not be prepared, or gave non-finite output)."""

    status, code = 422, "inference_failed"


class ModelFailureError(ServiceError):
    """The whole batch failed on the server's side (e.g. out of device memory): not the client's fault, so
    503 with Retry-After; the worker carries on with the next batch."""

    status, code = 503, "model_failed"


class ClientClosedError(ServiceError):
    """The client left before its answer was ready (nginx's 499); nobody reads this response."""

    status, code = 499, "client_closed"
